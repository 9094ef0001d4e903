import { randomBytes } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
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
   * PostgreSQL, by this process only on PGlite (it has no other clients). Resolves `true` once
   * listening; `false`, listening to nothing, when notifications do not reach this process: on
   * PostgreSQL a LISTEN first waits up to a second for a NOTIFY of its own, sent through the pool
   * (through a transaction-mode pooler the LISTEN succeeds and hears nothing, ever).
   */
  listen(channel: string, onPayload: (payload: string) => void): Promise<boolean>;
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
  /**
   * PostgreSQL: where to LISTEN — a direct or session-mode connection — when `url` goes through a
   * transaction-mode pooler (PgBouncer), where a LISTEN hears nothing. Unset: `url`.
   */
  listenUrl?: string | undefined;
  /**
   * PostgreSQL: named prepared statements (default on). Off for PgBouncer before 1.21 in
   * transaction mode, which cannot keep them; the hot path's statements still take one round trip.
   */
  prepare?: boolean | undefined;
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
  /** Called with every query drizzle runs (its SQL and parameters): benchmarks EXPLAIN what ran. */
  logQuery?: ((query: string, params: unknown[]) => void) | undefined;
}

/** drizzle's logger for `logQuery`, if any. */
const queryLogger = ({ logQuery }: DatabaseOptions) => (logQuery ? { logger: { logQuery } } : {});

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
  return options.url ? openPostgres(options.url, options) : openPglite(options);
}

/**
 * The LISTEN connection (`listenUrl`, not the pool's `url`) could not be opened: start-up names
 * the setting to check. `code` is the cause's (`ECONNREFUSED`, `3D000`, …).
 */
export class ListenConnectionError extends Error {
  override readonly name = 'ListenConnectionError';
  readonly code: unknown;
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(`cannot LISTEN on ${url}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.code = (cause as { code?: unknown } | undefined)?.code;
  }
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
    db = drizzlePglite(client, { schema, ...queryLogger(options) });
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
      return true;
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

async function openPostgres(url: string, options: DatabaseOptions): Promise<DatabaseHandle> {
  const prepare = options.prepare ?? true;
  // `fetch_types: false` on every connection: postgres.js 3.4.9 first queries the catalog for array
  // types on each new connection and drops that query's promise (porsager/postgres#1192, #1205); if
  // the database goes away right then, the rejection is unhandled and Node ends the process.
  // Nothing here uses array types (drizzle parses array columns itself).
  const settings = { onnotice: () => {}, connect_timeout: 5, fetch_types: false, prepare } as const;
  // Unprepared whatever `prepare` says: run once, a migration gains nothing from preparing.
  const migrator = postgres(url, { ...settings, prepare: false, max: 1 });
  try {
    await migrateInOneTransaction(migrator);
  } finally {
    await migrator.end({ timeout: 5 });
  }
  const client = postgres(url, { ...settings, max: options.maxConnections ?? 10 });
  const db = drizzlePostgres(prepare ? client : withNamedStatementsInlined(client), {
    schema,
    ...queryLogger(options),
  });
  // Used only to LISTEN: postgres.js keeps a dedicated connection for it (opened by the first
  // LISTEN) and listens again after reconnecting.
  const listenUrl = options.listenUrl ?? url;
  const listener = postgres(listenUrl, { ...settings, max: 1 });
  const listenOn: Listen = async (channel, onPayload) => {
    try {
      return await listener.listen(channel, onPayload);
    } catch (error) {
      throw options.listenUrl ? new ListenConnectionError(describeUrl(listenUrl), error) : error;
    }
  };
  return {
    kind: 'postgres',
    db: db as unknown as Database,
    async listen(channel, onPayload) {
      if (!(await hearsItsOwnNotify(listenOn, db as unknown as Database))) {
        await listener.end({ timeout: 5 });
        return false;
      }
      await listenOn(channel, onPayload);
      return true;
    },
    async ping() {
      await db.execute(sql`select 1`);
    },
    pendingMigrations: () => pendingMigrationsOf(db as unknown as Database),
    async close() {
      await Promise.all([client.end({ timeout: 5 }), listener.end({ timeout: 5 })]);
    },
  };
}

/** Host, port and database of a PostgreSQL URL: never its password. */
function describeUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.host}${parsed.pathname}`;
}

/**
 * drizzle's PostgreSQL migrator, as one transaction that first takes a transaction-scoped advisory
 * lock: replicas starting together take turns, and the second finds nothing left to apply.
 * drizzle's own `migrate` creates and reads its journal outside the transaction it applies the
 * migrations in, so a lock around it has to be a session lock — which a transaction-mode pooler
 * (PgBouncer) cannot hold: the lock stays on the server connection it ran on, back in the pool,
 * while the migration runs on others, and the next replica's lock waits for a connection nobody
 * releases. Here every statement runs in the one transaction the pooler pins to one server
 * connection. Same journal (`drizzle.__drizzle_migrations`, hash and folder time) and the same
 * rule (apply what is newer than the last recorded), so a database either migrator set up is up
 * to date for the other.
 */
async function migrateInOneTransaction(client: postgres.Sql): Promise<void> {
  const migrations = readMigrationFiles({ migrationsFolder: MIGRATIONS });
  await client.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`create schema if not exists drizzle`;
    await tx`create table if not exists drizzle.__drizzle_migrations (
      id serial primary key, hash text not null, created_at bigint)`;
    const [last] = await tx<{ created_at: string }[]>`
      select created_at from drizzle.__drizzle_migrations order by created_at desc limit 1`;
    for (const migration of migrations) {
      if (last && Number(last.created_at) >= migration.folderMillis) continue;
      for (const statement of migration.sql) await tx.unsafe(statement);
      await tx`insert into drizzle.__drizzle_migrations (hash, created_at)
        values (${migration.hash}, ${migration.folderMillis})`;
    }
  });
}

type Listen = (
  channel: string,
  onPayload: (payload: string) => void,
) => Promise<{ unlisten(): Promise<void> }>;

/** How long a LISTEN waits for its own NOTIFY before notifications count as not reaching us. */
const NOTIFY_CHECK_MS = 1_000;

/**
 * Whether a `pg_notify` committed through the pool (as every write's is) reaches `listen`: a
 * LISTEN on a channel of its own, then a NOTIFY on it, waited for at most a second. Through a
 * transaction-mode pooler the LISTEN ran on a server connection that went back to the pool with
 * its transaction: it succeeds, and nothing ever arrives.
 */
async function hearsItsOwnNotify(listen: Listen, db: Database): Promise<boolean> {
  const channel = `billing_notify_check_${randomBytes(8).toString('hex')}`;
  const payload = randomBytes(16).toString('hex');
  let heard = () => {};
  const arrived = new Promise<boolean>((resolve) => {
    heard = () => resolve(true);
  });
  const { unlisten } = await listen(channel, (received) => {
    if (received === payload) heard();
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    // Timers run before I/O in an event-loop turn: after a stall, what already arrived is read
    // first (setImmediate waits for that), so a busy process does not mistake it for silence.
    timer = setTimeout(() => setImmediate(resolve, false), NOTIFY_CHECK_MS);
  });
  try {
    await db.execute(sql`select pg_notify(${channel}, ${payload})`);
    const hears = await Promise.race([arrived, timedOut]);
    if (hears) await unlisten();
    return hears;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * With prepared statements off, postgres.js sends a query with parameters as Parse/Describe,
 * waits for the parameter types, then sends Bind/Execute: two round trips. The statements the
 * stores name for preparing (drizzle's `.prepare(name)`: `billing_reserve` and `billing_release`,
 * the hot path's one round trip each; drizzle passes them on with `prepare: true`) go instead as
 * one simple-protocol query, their parameters written in as literals. Anything else, and any
 * statement `inlineParameters` cannot rewrite safely, goes as postgres.js sends it.
 */
function withNamedStatementsInlined(client: postgres.Sql): postgres.Sql {
  const unsafe = (query: string, parameters?: unknown[], queryOptions?: postgres.UnsafeQueryOptions) => {
    const inlined =
      queryOptions?.prepare && parameters?.length ? inlineParameters(query, parameters) : undefined;
    return inlined === undefined
      ? client.unsafe(query, parameters as postgres.ParameterOrJSON<never>[] | undefined, queryOptions)
      : client.unsafe(inlined, [], { ...queryOptions, prepare: false });
  };
  return new Proxy(client, {
    get: (target, property) => (property === 'unsafe' ? unsafe : Reflect.get(target, property)),
  });
}

/** A quoted identifier of letters, digits and underscores only: nothing can hide inside it. */
const PLAIN_QUOTED_IDENTIFIER = /"[A-Za-z_][A-Za-z0-9_]*"/g;
/**
 * What, left in a statement's text, could make a `$1` in it something other than a placeholder:
 * a string, another quoted identifier, a comment, a dollar quote, a `$` within a name.
 */
const PLACEHOLDER_MAY_HIDE = /['"]|--|\/\*|\$(?!\d)|[\w$]\$\d/;
const PLACEHOLDER = /\$(\d+)/g;

/**
 * `query` with each `$n` replaced by the literal of `parameters[n - 1]`; `undefined` when that
 * would not mean the same: a text in which a placeholder could hide (see above), a value that
 * has no literal here, a placeholder without a value.
 */
export function inlineParameters(query: string, parameters: readonly unknown[]): string | undefined {
  if (PLACEHOLDER_MAY_HIDE.test(query.replace(PLAIN_QUOTED_IDENTIFIER, 'x'))) return undefined;
  const literals = parameters.map(literalOf);
  let complete = literals.every((literal) => literal !== undefined);
  const inlined = query.replace(PLACEHOLDER, (_, position: string) => {
    const literal = literals[Number(position) - 1];
    if (literal === undefined) complete = false;
    return literal ?? '';
  });
  return complete ? inlined : undefined;
}

/**
 * A value as postgres.js sends a parameter it has no type for (`'' + value`, type unknown: the
 * statement's casts decide), as a quoted literal: `E'…'` with backslashes and quotes doubled,
 * which reads the same whatever `standard_conforming_strings` says (libpq's PQescapeLiteral
 * writes it so for text with a backslash). Text with a NUL byte has none: PostgreSQL refuses it,
 * as it refuses the parameter.
 */
function literalOf(value: unknown): string | undefined {
  if (value === null) return 'NULL';
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const text = String(value);
  if (text.includes('\0')) return undefined;
  return `E'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}
