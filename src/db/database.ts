import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { type DataDirLock, lockDataDir } from './data-dir-lock.js';
import * as schema from './schema.js';

/** Both drivers behind one type: drizzle's PostgreSQL database, whatever carries the SQL. */
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface DatabaseHandle {
  readonly kind: 'pglite' | 'postgres';
  readonly db: Database;
  /**
   * Calls `onPayload` for every `pg_notify(channel, payload)` committed — by any replica on
   * PostgreSQL, by this process only on PGlite (it has no other clients). Resolves once listening.
   */
  listen(channel: string, onPayload: (payload: string) => void): Promise<void>;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  /** How many of the checked-in migrations this database has not applied (0 when up to date). */
  pendingMigrations(): Promise<number>;
  /** PGlite only: the whole data directory as a tarball (a backup; tests clone a migrated template). */
  dump?(): Promise<Blob>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** `postgres://…` for PostgreSQL; unset for embedded PGlite. */
  url?: string | undefined;
  /** PGlite's data directory; unset keeps the database in memory. */
  dataDir?: string | undefined;
  /**
   * The lock on `dataDir` when the caller took it (a server, to publish its URL in it); without
   * one, opening takes the lock for this process and closing releases it.
   */
  dataDirLock?: DataDirLock | undefined;
  /** A PGlite data dump (`dumpDataDir()`) to start from — tests clone a migrated template this way. */
  pgliteTemplate?: Blob | File | undefined;
  /** PostgreSQL pool size. */
  maxConnections?: number;
}

const MIGRATIONS = fileURLToPath(new URL('../../drizzle', import.meta.url));
const CHECKED_IN_MIGRATIONS = (
  JSON.parse(readFileSync(join(MIGRATIONS, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }
).entries.length;
/** Where drizzle's migrators record what they applied. */
const APPLIED_MIGRATIONS = sql`select count(*)::int as applied from drizzle.__drizzle_migrations`;
/** PostgreSQL's codes for "no such table" and "no such schema": nothing was ever migrated here. */
const NEVER_MIGRATED = new Set(['42P01', '3F000']);

/** Compares what the database recorded with the checked-in journal. */
async function pendingMigrationsOf(db: Database): Promise<number> {
  try {
    const rows = (await db.execute(APPLIED_MIGRATIONS)) as unknown as
      | { applied: number }[]
      | { rows: { applied: number }[] };
    const [row] = Array.isArray(rows) ? rows : rows.rows;
    return Math.max(0, CHECKED_IN_MIGRATIONS - (row?.applied ?? 0));
  } catch (error) {
    const code =
      (error as { cause?: { code?: unknown }; code?: unknown }).cause?.code ??
      (error as { code?: unknown }).code;
    if (typeof code === 'string' && NEVER_MIGRATED.has(code)) return CHECKED_IN_MIGRATIONS;
    throw error;
  }
}
/** Arbitrary but fixed: replicas starting together take turns applying migrations. */
const MIGRATION_LOCK = 7_245_001;

/** Opens the store and applies pending migrations (idempotent: applied ones are recorded). */
export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  return options.url ? openPostgres(options.url, options.maxConnections ?? 10) : openPglite(options);
}

/** One process per data directory (see data-dir-lock.ts); the caller's lock, or one of our own. */
async function ownedDataDir(options: DatabaseOptions): Promise<DataDirLock | undefined> {
  const { dataDir, dataDirLock } = options;
  if (!dataDir) return undefined;
  if (dataDirLock) {
    if (realpathSync(dataDirLock.dataDir) !== realpathSync(dataDir)) {
      throw new Error(`the lock given is on ${dataDirLock.dataDir}, not on ${dataDir}`);
    }
    return undefined;
  }
  return lockDataDir(dataDir, 'process');
}

async function openPglite(options: DatabaseOptions): Promise<DatabaseHandle> {
  const ownLock = await ownedDataDir(options);
  let client: PGlite;
  let db: ReturnType<typeof drizzlePglite<typeof schema>>;
  try {
    // In memory as `memory://`: given no data directory at all, PGlite ignores `loadDataDir`.
    client = new PGlite(
      options.dataDir ?? 'memory://',
      options.pgliteTemplate ? { loadDataDir: options.pgliteTemplate } : {},
    );
    db = drizzlePglite(client, { schema });
    await migratePglite(db, { migrationsFolder: MIGRATIONS });
  } catch (error) {
    await ownLock?.release();
    throw error;
  }
  return {
    kind: 'pglite',
    db: db as unknown as Database,
    async listen(channel, onPayload) {
      await client.listen(channel, onPayload);
    },
    async ping() {
      await client.query('select 1');
    },
    pendingMigrations: () => pendingMigrationsOf(db as unknown as Database),
    dump: () => client.dumpDataDir('none'),
    async close() {
      if (!client.closed) await client.close();
      await ownLock?.release();
    },
  };
}

async function openPostgres(url: string, maxConnections: number): Promise<DatabaseHandle> {
  // Migrations run on a connection of their own, holding an advisory lock: replicas starting
  // together take turns, and the second finds nothing left to apply.
  // `fetch_types: false` on every connection: postgres.js 3.4.9 first queries the catalog for array
  // types on each new connection and drops that query's promise (porsager/postgres#1192, #1205); if
  // the database goes away right then, the rejection is unhandled and Node ends the process.
  // Nothing here uses array types (drizzle parses array columns itself).
  const migrator = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5, fetch_types: false });
  try {
    await migrator`select pg_advisory_lock(${MIGRATION_LOCK})`;
    await migratePostgres(drizzlePostgres(migrator, { schema }), { migrationsFolder: MIGRATIONS });
  } finally {
    await migrator.end({ timeout: 5 });
  }
  const client = postgres(url, {
    max: maxConnections,
    onnotice: () => {},
    connect_timeout: 5,
    fetch_types: false,
  });
  const db = drizzlePostgres(client, { schema });
  return {
    kind: 'postgres',
    db: db as unknown as Database,
    async listen(channel, onPayload) {
      // postgres.js keeps a dedicated connection for LISTEN and re-subscribes after reconnecting.
      await client.listen(channel, onPayload);
    },
    async ping() {
      await db.execute(sql`select 1`);
    },
    pendingMigrations: () => pendingMigrationsOf(db as unknown as Database),
    async close() {
      await client.end({ timeout: 5 });
    },
  };
}
