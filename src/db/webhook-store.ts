import { and, desc, eq, getTableColumns, sql } from 'drizzle-orm';
import { PlanType } from '../contract/plans.js';
import type { WebhookOutcome } from '../contract/webhooks.js';
import type { LimitsChange } from '../domain/limits/changes.js';
import { limitsChangedEvents } from '../domain/outbox/events.js';
import type {
  EventAction,
  EventResult,
  ReceivedEvent,
  WebhookEventRecord,
  WebhookStore,
} from '../domain/webhooks/webhook-store.js';
import type { Database } from './database.js';
import { announce, audit } from './journal.js';
import { recordEvents } from './outbox.js';
import { type Executor, keyset, microsecondsUtc, readTenants, tenantsOfCustomer } from './rows.js';
import { customer, plan, webhookEvent } from './schema.js';
import { inTransaction, serializeOn } from './transactions.js';

/** The audit log's action for an operator's replay of a recorded event. */
const REPLAY = 'webhook_event.replay';

function recordOf(row: typeof webhookEvent.$inferSelect): WebhookEventRecord {
  return {
    id: row.id,
    type: row.type,
    createdAt: row.createdAt,
    receivedAt: row.receivedAt,
    customerId: row.customerId,
    rawBody: row.rawBody,
    outcome: row.outcome as WebhookOutcome,
    detail: (row.detail as Record<string, unknown> | null) ?? null,
  };
}

/**
 * Does what `action` asks of a recorded event, in the caller's transaction, and writes the outcome
 * on the event's row: a plan change for its customer unless an event applied to that customer is
 * newer, audited as `by`, announced to the replicas.
 */
async function carryOut(
  tx: Executor,
  event: Pick<ReceivedEvent, 'id' | 'createdAt' | 'customerId'>,
  action: EventAction,
  by: { actor: string; action: string },
): Promise<EventResult> {
  const finish = async (result: EventResult): Promise<EventResult> => {
    await tx
      .update(webhookEvent)
      .set({ outcome: result.outcome, detail: result.detail ?? null })
      .where(eq(webhookEvent.id, event.id));
    return result;
  };

  if (action.kind === 'record') return finish({ outcome: action.outcome, detail: action.detail });
  const customerId = event.customerId;
  if (!customerId) return finish({ outcome: 'unmapped_customer' });

  let planId: string;
  if (action.kind === 'plan') {
    planId = action.planId;
  } else {
    const [mapped] = await tx
      .select({ id: plan.id })
      .from(plan)
      .where(eq(plan.orbExternalPlanId, action.externalPlanId));
    if (!mapped)
      return finish({ outcome: 'unmapped_plan', detail: { external_plan_id: action.externalPlanId } });
    planId = mapped.id;
  }

  // Events for one customer take turns from here: racing first events for an unknown customer
  // each found no row and inserted one (a UNIQUE violation), or locked rows in opposite orders.
  await serializeOn(tx, 'customer', customerId);
  const [current] = await tx.select().from(customer).where(eq(customer.id, customerId)).for('update');
  const tenants = await tenantsOfCustomer(tx, customerId);
  const tenantsBefore = await readTenants(tx, { tenantIds: tenants });
  if (current?.lastOrbEventAt && current.lastOrbEventAt > event.createdAt) {
    return finish({
      outcome: 'stale',
      detail: { last_applied_at: current.lastOrbEventAt.toISOString() },
    });
  }
  if (current) {
    await tx
      .update(customer)
      .set({ planId, lastOrbEventAt: event.createdAt, updatedAt: sql`now()` })
      .where(eq(customer.id, customerId));
  } else {
    // A customer Orb knows before we do: organizations mapped to it later get this plan.
    await tx.insert(customer).values({ id: customerId, planId, lastOrbEventAt: event.createdAt });
  }
  await audit(tx, {
    actor: by.actor,
    action: by.action,
    subjectType: 'customer',
    subjectId: customerId,
    before: current ? { planId: current.planId } : null,
    after: { planId, event_id: event.id },
  });
  await recordEvents(
    tx,
    limitsChangedEvents(tenantsBefore, await readTenants(tx, { tenantIds: tenants }), 'orb'),
  );
  const change: LimitsChange = { tenants };
  if (change.tenants.length > 0) await announce(tx, change);
  return {
    ...(await finish({ outcome: 'applied', detail: { plan_id: PlanType.parse(planId) } })),
    change,
  };
}

export function createWebhookStore(db: Database): WebhookStore {
  return {
    async recordOrbEvent(event, action) {
      return inTransaction(db, async (tx) => {
        const [inserted] = await tx
          .insert(webhookEvent)
          .values({ ...event, outcome: 'ignored' })
          .onConflictDoNothing()
          .returning({ id: webhookEvent.id });
        // Orb delivers at least once: a second delivery of an id changes nothing.
        if (!inserted) return { outcome: 'duplicate' };
        return carryOut(tx, event, action, { actor: 'orb', action: event.type });
      });
    },

    async replayOrbEvent(id, action, actor) {
      return inTransaction(db, async (tx) => {
        // Locked first: of replays at once, one carries the event out, the others see what it did.
        const [row] = await tx.select().from(webhookEvent).where(eq(webhookEvent.id, id)).for('update');
        if (!row) return undefined;
        if (row.outcome !== 'unmapped_plan') return { record: recordOf(row) };
        const result = await carryOut(tx, row, action, { actor, action: REPLAY });
        // An applied replay is audited on its customer (as a delivery is); one that only changes
        // the event's outcome (stale, rejected) on the event.
        if (result.outcome !== 'applied' && result.outcome !== row.outcome) {
          await audit(tx, {
            actor,
            action: REPLAY,
            subjectType: 'webhook_event',
            subjectId: id,
            before: { outcome: row.outcome, detail: row.detail },
            after: { outcome: result.outcome, detail: result.detail ?? null },
          });
        }
        const [replayed] = await tx.select().from(webhookEvent).where(eq(webhookEvent.id, id));
        if (!replayed) throw new Error(`webhook event ${id} vanished inside its own transaction`);
        return { record: recordOf(replayed), change: result.change };
      });
    },

    async findWebhookEvent(id) {
      const [row] = await db.select().from(webhookEvent).where(eq(webhookEvent.id, id));
      return row && recordOf(row);
    },

    async listWebhookEvents({ customerId, outcome, limit, after }) {
      const rows = await db
        .select({ ...getTableColumns(webhookEvent), position: microsecondsUtc(webhookEvent.receivedAt) })
        .from(webhookEvent)
        .where(
          and(
            customerId === undefined ? undefined : eq(webhookEvent.customerId, customerId),
            outcome === undefined ? undefined : eq(webhookEvent.outcome, outcome),
            keyset.after(webhookEvent.receivedAt, webhookEvent.id, after, 'text'),
          ),
        )
        .orderBy(desc(webhookEvent.receivedAt), desc(webhookEvent.id))
        .limit(limit + 1);
      const page = keyset.page(rows, limit, (row) => row.id);
      return { events: page.rows.map(({ position: _, ...row }) => recordOf(row)), next: page.next };
    },
  };
}
