import type { OutboxEvent } from '../domain/outbox/events.js';
import type { Executor } from './rows.js';
import { billingEvent } from './schema.js';
import { serializeOn } from './transactions.js';

const EVENTS_PER_STATEMENT = 5_000;
/** Notified (by the fan-out trigger, at commit) when deliveries were written: dispatchers look at once. */
export const OUTBOX_CHANNEL = 'billing_outbox';

/**
 * Writes events into the outbox, in the caller's transaction: they exist if and only if the change
 * that caused them commits. A trigger fans each out to the endpoints that take its type.
 *
 * Its callers take turns from their first event to their commit, so their events (`limits.changed`,
 * which the change stream follows) commit in `sequence` order: a stream that has read up to a
 * sequence never sees a smaller one commit later (a sequence is handed out at insert, and two
 * writers could otherwise commit in the other order). Call it last in the transaction, after every
 * row lock the write takes. Events written by triggers (`reservation.expired`, the alerts) are not
 * streamed and do not take turns.
 */
export async function recordEvents(db: Executor, events: readonly OutboxEvent[]): Promise<void> {
  if (events.length === 0) return;
  await serializeOn(db, 'billing_event', 'writers');
  // A statement takes at most 65,535 parameters: a catalog change may have an event per tenant.
  for (let start = 0; start < events.length; start += EVENTS_PER_STATEMENT) {
    const rows = events.slice(start, start + EVENTS_PER_STATEMENT);
    await db.insert(billingEvent).values(rows.map(({ type, tenantId, data }) => ({ type, tenantId, data })));
  }
}
