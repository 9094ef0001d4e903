import { sql } from 'drizzle-orm';
import type { LimitsChange } from '../domain/limits/changes.js';
import type { Executor } from './rows.js';
import { auditLog } from './schema.js';

/** What every write leaves behind in its own transaction: an audit entry, and a notification to the replicas. */
export const LIMITS_CHANNEL = 'billing_limits_changed';
/** pg_notify payloads are limited to 8000 bytes; a longer tenant list becomes "everything changed". */
const MAX_NOTIFY_PAYLOAD = 7_900;

/** Tells every listening replica what changed — delivered when (and only if) the transaction commits. */
export async function announce(db: Executor, change: LimitsChange): Promise<void> {
  let payload = JSON.stringify(change);
  if (payload.length > MAX_NOTIFY_PAYLOAD) payload = JSON.stringify({ all: true });
  await db.execute(sql`select pg_notify(${LIMITS_CHANNEL}, ${payload})`);
}

/** A notification as a change; an unreadable one means "everything": it must never leave stale answers. */
export function changeOf(payload: string): LimitsChange {
  const value = parsedOrUndefined(payload);
  if (typeof value === 'object' && value !== null && 'tenants' in value && Array.isArray(value.tenants)) {
    return { tenants: value.tenants.filter((id): id is string => typeof id === 'string') };
  }
  return { all: true };
}

// Only the parse may fail: a payload that parses is read by checks that cannot throw.
function parsedOrUndefined(payload: string): unknown {
  try {
    return JSON.parse(payload);
  } catch {
    return undefined;
  }
}

/** Who changed what, before → after, in the write's own transaction. */
export async function audit(
  db: Executor,
  entry: {
    actor: string;
    action: string;
    subjectType: string;
    subjectId: string;
    before: unknown;
    after: unknown;
  },
): Promise<void> {
  await db.insert(auditLog).values({ ...entry, before: entry.before ?? null, after: entry.after ?? null });
}
