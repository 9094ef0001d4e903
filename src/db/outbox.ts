import type { OutboxEvent } from '../domain/outbox/events.js';
import type { Executor } from './rows.js';
import { billingEvent } from './schema.js';

const EVENTS_PER_STATEMENT = 5_000;
/** Notified (by the fan-out trigger, at commit) when deliveries were written: dispatchers look at once. */
export const OUTBOX_CHANNEL = 'billing_outbox';

/**
 * Writes events into the outbox, in the caller's transaction: they exist if and only if the change
 * that caused them commits. A trigger fans each out to the endpoints that take its type.
 */
export async function recordEvents(db: Executor, events: readonly OutboxEvent[]): Promise<void> {
  // A statement takes at most 65,535 parameters: a catalog change may have an event per tenant.
  for (let start = 0; start < events.length; start += EVENTS_PER_STATEMENT) {
    const rows = events.slice(start, start + EVENTS_PER_STATEMENT);
    await db.insert(billingEvent).values(rows.map(({ type, tenantId, data }) => ({ type, tenantId, data })));
  }
}
