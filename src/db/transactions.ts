import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import type { Database } from './database.js';
import type { Executor } from './rows.js';

/** What `db.transaction` hands its callback. */
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];

/**
 * PostgreSQL's "try again" answers: a deadlock (40P01) or a serialization failure (40001). The
 * transaction was rolled back whole, so running it again is safe.
 */
const RETRYABLE = new Set(['40P01', '40001']);
/** Attempts in all; the waits between them grow (10, 20, 40, 80 ms, with jitter). */
const ATTEMPTS = 5;

function sqlStateOf(error: unknown): string | undefined {
  for (let link = error; link instanceof Error; link = link.cause) {
    const code = (link as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/**
 * `db.transaction(work)`, run again when PostgreSQL rolled it back for a deadlock or a
 * serialization failure (a bounded number of times, backing off), so that concurrent writers get
 * an answer instead of a 503. `work` must do nothing outside the transaction it is given.
 */
export async function inTransaction<T>(db: Database, work: (tx: Transaction) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(work);
    } catch (error) {
      const state = sqlStateOf(error);
      if (attempt >= ATTEMPTS || state === undefined || !RETRYABLE.has(state)) throw error;
      await sleep(10 * 2 ** (attempt - 1) * (0.5 + Math.random()));
    }
  }
}

/**
 * Makes the transaction's writers of one key take turns, before they touch any row: a
 * transaction-scoped advisory lock, released at commit or rollback. Taken first, it puts every
 * writer of the key in one lock order, so they cannot deadlock on the rows behind it.
 */
export async function serializeOn(tx: Executor, namespace: string, key: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`${namespace}:${key}`}, 0))`);
}
