import { readFileSync } from 'node:fs';

const MIGRATIONS = new URL('../../drizzle/', import.meta.url);

/** The checked-in migration journal's entries (drizzle/meta/_journal.json). */
const entries = (
  JSON.parse(readFileSync(new URL('meta/_journal.json', MIGRATIONS), 'utf8')) as {
    entries: { idx: number }[];
  }
).entries;

/** How many migrations are checked in. */
export const CHECKED_IN_MIGRATIONS = entries.length;

/** The drizzle-kit snapshot written with the last checked-in migration: the schema they build. */
export function lastMigrationSnapshot(): unknown {
  const last = entries.at(-1);
  if (!last) throw new Error('the migration journal lists no migration');
  const file = new URL(`meta/${String(last.idx).padStart(4, '0')}_snapshot.json`, MIGRATIONS);
  return JSON.parse(readFileSync(file, 'utf8'));
}
