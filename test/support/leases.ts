/** What the lease tests share: raw SQL rows, a store whose sweeps end with the test, captured logs. */
import type { SQL } from 'drizzle-orm';
import { onTestFinished } from 'vitest';
import type { Database } from '../../src/db/database.js';
import type { BillingStore } from '../../src/domain/store.js';
import { createLogger, type LogLevel } from '../../src/telemetry/logger.js';

/** A JSON log line as the service writes it. */
export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** The log message of each lease released because it ran out. */
export const LEASE_EXPIRED = 'reservation lease expired';

/** Rows of a raw query, whichever driver ran it. */
export async function rowsOf(db: Database, query: SQL): Promise<Record<string, unknown>[]> {
  const result = (await db.execute(query)) as unknown as
    | Record<string, unknown>[]
    | { rows: Record<string, unknown>[] };
  return Array.isArray(result) ? [...result] : result.rows;
}

/**
 * `store`, as an app sees it, but "closing" when the current test ends: the lease sweep of an app
 * built on it stops then, so that no test's sweep reaches another test's leases.
 */
export function untilTestEnds(store: BillingStore): BillingStore {
  const ended = new AbortController();
  onTestFinished(() => ended.abort());
  return { ...store, closing: AbortSignal.any([store.closing, ended.signal]) };
}

/** A logger at `level` whose lines are kept, parsed, for the test to read. */
export function capturedLogs(level: LogLevel = 'info') {
  const lines: LogLine[] = [];
  const logger = createLogger({
    level,
    destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
  });
  return { logger, lines, expiries: () => lines.filter((line) => line.msg === LEASE_EXPIRED) };
}
