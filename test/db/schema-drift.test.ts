import { readFileSync } from 'node:fs';
import { generateDrizzleJson, generateMigration } from 'drizzle-kit/api';
import { describe, expect, it } from 'vitest';
import * as schema from '../../src/db/schema.js';

const JOURNAL = new URL('../../drizzle/meta/_journal.json', import.meta.url);

function lastSnapshot(): Parameters<typeof generateMigration>[0] {
  const journal = JSON.parse(readFileSync(JOURNAL, 'utf8')) as { entries: { idx: number }[] };
  const last = journal.entries.at(-1);
  if (!last) throw new Error('the migration journal lists no migration');
  const file = new URL(
    `../../drizzle/meta/${String(last.idx).padStart(4, '0')}_snapshot.json`,
    import.meta.url,
  );
  return JSON.parse(readFileSync(file, 'utf8'));
}

// The database is built by the checked-in SQL migrations, not by src/db/schema.ts; the schema's
// constraints and indexes are read only by `npm run db:generate`. A constraint edited in one and not
// the other would go unnoticed until the next generated migration silently dropped or re-added it.
describe('the drizzle schema', () => {
  it('is what the checked-in migrations build: generating a migration from it yields nothing', async () => {
    const statements = await generateMigration(lastSnapshot(), generateDrizzleJson(schema));
    expect(statements).toEqual([]);
  });
});
