import { generateDrizzleJson, generateMigration } from 'drizzle-kit/api';
import { describe, expect, it } from 'vitest';
import * as schema from '../../src/db/schema.js';
import { lastMigrationSnapshot } from '../support/migrations.js';

// The database is built by the checked-in SQL migrations, not by src/db/schema.ts; the schema's
// constraints and indexes are read only by `npm run db:generate`. A constraint edited in one and not
// the other would go unnoticed until the next generated migration silently dropped or re-added it.
describe('the drizzle schema', () => {
  it('is what the checked-in migrations build: generating a migration from it yields nothing', async () => {
    const statements = await generateMigration(
      lastMigrationSnapshot() as Parameters<typeof generateMigration>[0],
      generateDrizzleJson(schema),
    );
    expect(statements).toEqual([]);
  });
});
