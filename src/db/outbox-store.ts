import { and, asc, desc, eq, getTableColumns, gt, inArray, isNull, lt, lte, sql } from 'drizzle-orm';
import { DeliveryStatus, EventType, type LimitsChangedData } from '../contract/outbound-webhooks.js';
import type {
  ClaimedDelivery,
  DisabledReason,
  OutboxStore,
  WebhookDeliveryRecord,
  WebhookEndpointRecord,
} from '../domain/outbox/outbox-store.js';
import type { Database } from './database.js';
import { audit } from './journal.js';
import { OUTBOX_CHANNEL } from './outbox.js';
import { type Executor, keyset, microsecondsUtc } from './rows.js';
import { billingEvent, billingEventPruned, webhookDelivery, webhookEndpoint } from './schema.js';
import { inTransaction } from './transactions.js';

function disabledReasonOf(reason: string): DisabledReason {
  if (reason === 'answered 410 Gone' || reason === 'failed continuously') return reason;
  throw new TypeError(`webhook endpoint disabled for an unknown reason: ${reason}`);
}

function endpointOf(row: typeof webhookEndpoint.$inferSelect): WebhookEndpointRecord {
  return {
    id: row.id,
    url: row.url,
    events: row.events === null ? null : row.events.map((type) => EventType.parse(type)),
    description: row.description,
    createdAt: row.createdAt,
    disabledAt: row.disabledAt,
    disabledReason: row.disabledReason === null ? null : disabledReasonOf(row.disabledReason),
  };
}

const deliveryColumns = {
  ...getTableColumns(webhookDelivery),
  eventId: billingEvent.id,
  position: microsecondsUtc(webhookDelivery.createdAt),
};

function deliveryOf(row: typeof webhookDelivery.$inferSelect & { eventId: string }): WebhookDeliveryRecord {
  const status = DeliveryStatus.parse(row.status);
  return {
    id: row.id,
    endpointId: row.endpointId,
    eventId: row.eventId,
    eventType: EventType.parse(row.eventType),
    sequence: row.eventSequence,
    tenantId: row.tenantId,
    status,
    attempts: row.attempts,
    lastStatusCode: row.lastStatusCode,
    lastError: row.lastError,
    nextAttemptAt: status === 'pending' ? row.nextAttemptAt : null,
    createdAt: row.createdAt,
    deliveredAt: row.deliveredAt,
  };
}

/** Disables an endpoint and gives up its pending deliveries: nothing more is attempted. */
async function disable(tx: Executor, endpointId: string, reason: DisabledReason): Promise<void> {
  await tx
    .update(webhookEndpoint)
    .set({ disabledAt: sql`now()`, disabledReason: reason })
    .where(and(eq(webhookEndpoint.id, endpointId), isNull(webhookEndpoint.disabledAt)));
  await tx
    .update(webhookDelivery)
    .set({
      status: 'failed',
      lastError: sql`coalesce(${webhookDelivery.lastError}, ${`endpoint disabled: ${reason}`})`,
    })
    .where(and(eq(webhookDelivery.endpointId, endpointId), eq(webhookDelivery.status, 'pending')));
}

/**
 * A pending delivery that may be attempted when due: one tenant's events reach an endpoint in
 * order, so the next waits until the previous is delivered or given up.
 */
const nextInLine = and(
  eq(webhookDelivery.status, 'pending'),
  sql`not exists (select 1 from ${webhookDelivery} as earlier
    where earlier.endpoint_id = ${webhookDelivery.endpointId} and earlier.tenant_id = ${webhookDelivery.tenantId}
    and earlier.status = 'pending' and earlier.event_sequence < ${webhookDelivery.eventSequence})`,
);

const milliseconds = (ms: number) => sql`make_interval(secs => ${ms / 1000}::double precision)`;

export function createOutboxStore(db: Database): OutboxStore {
  return {
    async createEndpoint(endpoint, actor) {
      return inTransaction(db, async (tx) => {
        const [row] = await tx.insert(webhookEndpoint).values(endpoint).returning();
        if (!row) throw new Error('inserting a webhook endpoint returned no row');
        const created = endpointOf(row);
        await audit(tx, {
          actor,
          action: 'webhook_endpoint.create',
          subjectType: 'webhook_endpoint',
          subjectId: created.id,
          before: null,
          after: created,
        });
        return created;
      });
    },

    async listEndpoints() {
      const rows = await db
        .select()
        .from(webhookEndpoint)
        .orderBy(asc(webhookEndpoint.createdAt), asc(webhookEndpoint.id));
      return rows.map(endpointOf);
    },

    async findEndpoint(endpointId) {
      const [row] = await db.select().from(webhookEndpoint).where(eq(webhookEndpoint.id, endpointId));
      return row && endpointOf(row);
    },

    async deleteEndpoint(endpointId, actor) {
      return inTransaction(db, async (tx) => {
        const [row] = await tx.delete(webhookEndpoint).where(eq(webhookEndpoint.id, endpointId)).returning();
        if (!row) return false;
        await audit(tx, {
          actor,
          action: 'webhook_endpoint.delete',
          subjectType: 'webhook_endpoint',
          subjectId: endpointId,
          before: endpointOf(row),
          after: null,
        });
        return true;
      });
    },

    async listDeliveries(endpointId, { limit, after }) {
      const rows = await db
        .select(deliveryColumns)
        .from(webhookDelivery)
        .innerJoin(billingEvent, eq(billingEvent.sequence, webhookDelivery.eventSequence))
        .where(
          and(
            eq(webhookDelivery.endpointId, endpointId),
            keyset.after(webhookDelivery.createdAt, webhookDelivery.id, after, 'uuid'),
          ),
        )
        .orderBy(desc(webhookDelivery.createdAt), desc(webhookDelivery.id))
        .limit(limit + 1);
      const page = keyset.page(rows, limit, (row) => row.id);
      return { deliveries: page.rows.map(deliveryOf), next: page.next };
    },

    async redeliver(endpointId, deliveryId, actor) {
      return inTransaction(db, async (tx) => {
        const [endpoint] = await tx
          .select({ disabledAt: webhookEndpoint.disabledAt })
          .from(webhookEndpoint)
          .where(eq(webhookEndpoint.id, endpointId))
          .for('share');
        if (!endpoint) return 'no_delivery';
        const [before] = await tx
          .select()
          .from(webhookDelivery)
          .where(and(eq(webhookDelivery.id, deliveryId), eq(webhookDelivery.endpointId, endpointId)))
          .for('update');
        if (!before) return 'no_delivery';
        if (endpoint.disabledAt) return 'endpoint_disabled';
        await tx
          .update(webhookDelivery)
          .set({ status: 'pending', attempts: 0, nextAttemptAt: sql`now()`, deliveredAt: null })
          .where(eq(webhookDelivery.id, deliveryId));
        await audit(tx, {
          actor,
          action: 'webhook_delivery.redeliver',
          subjectType: 'webhook_delivery',
          subjectId: deliveryId,
          before: { status: before.status, attempts: before.attempts },
          after: { status: 'pending', attempts: 0 },
        });
        await tx.execute(sql`select pg_notify(${OUTBOX_CHANNEL}, '')`);
        return 'redelivered';
      });
    },

    async claimDue(limit, leaseMs) {
      return inTransaction(db, async (tx) => {
        const due = await tx
          .select({ id: webhookDelivery.id })
          .from(webhookDelivery)
          .innerJoin(
            webhookEndpoint,
            and(eq(webhookEndpoint.id, webhookDelivery.endpointId), isNull(webhookEndpoint.disabledAt)),
          )
          .where(and(nextInLine, lte(webhookDelivery.nextAttemptAt, sql`now()`)))
          .orderBy(asc(webhookDelivery.eventSequence))
          .limit(limit)
          .for('update', { of: webhookDelivery, skipLocked: true });
        if (due.length === 0) return [];
        const ids = due.map((row) => row.id);
        await tx
          .update(webhookDelivery)
          .set({
            attempts: sql`${webhookDelivery.attempts} + 1`,
            nextAttemptAt: sql`now() + ${milliseconds(leaseMs)}`,
          })
          .where(inArray(webhookDelivery.id, ids));
        const rows = await tx
          .select({
            id: webhookDelivery.id,
            endpointId: webhookDelivery.endpointId,
            attempt: webhookDelivery.attempts,
            url: webhookEndpoint.url,
            secret: webhookEndpoint.secret,
            event: {
              id: billingEvent.id,
              type: billingEvent.type,
              sequence: billingEvent.sequence,
              createdAt: billingEvent.createdAt,
              tenantId: billingEvent.tenantId,
              data: billingEvent.data,
            },
          })
          .from(webhookDelivery)
          .innerJoin(webhookEndpoint, eq(webhookEndpoint.id, webhookDelivery.endpointId))
          .innerJoin(billingEvent, eq(billingEvent.sequence, webhookDelivery.eventSequence))
          .where(inArray(webhookDelivery.id, ids))
          .orderBy(asc(webhookDelivery.eventSequence));
        return rows.map(
          (row): ClaimedDelivery => ({
            ...row,
            event: { ...row.event, type: EventType.parse(row.event.type) },
          }),
        );
      });
    },

    async finishAttempt(delivery, outcome, disableAfterMs) {
      return inTransaction(db, async (tx) => {
        // Only the attempt claimed: after a redelivery (attempts back to 0) its outcome is stale,
        // and the delivery stays pending for the attempt the operator asked for.
        const where = and(
          eq(webhookDelivery.id, delivery.id),
          eq(webhookDelivery.status, 'pending'),
          eq(webhookDelivery.attempts, delivery.attempt),
        );
        const statusCode = outcome.statusCode;
        const error = 'error' in outcome ? outcome.error : null;
        if (outcome.kind === 'delivered') {
          await tx
            .update(webhookDelivery)
            .set({
              status: 'delivered',
              lastStatusCode: statusCode,
              lastError: null,
              deliveredAt: sql`now()`,
            })
            .where(where);
          await tx
            .update(webhookEndpoint)
            .set({ failingSince: null })
            .where(eq(webhookEndpoint.id, delivery.endpointId));
          return false;
        }
        await tx
          .update(webhookDelivery)
          .set(
            outcome.kind === 'retry'
              ? {
                  lastStatusCode: statusCode,
                  lastError: error,
                  nextAttemptAt: sql`now() + ${milliseconds(outcome.retryInMs)}`,
                }
              : { status: 'failed', lastStatusCode: statusCode, lastError: error },
          )
          .where(where);
        if (outcome.kind === 'gone') {
          await disable(tx, delivery.endpointId, 'answered 410 Gone');
          return true;
        }
        const [endpoint] = await tx
          .update(webhookEndpoint)
          .set({ failingSince: sql`coalesce(${webhookEndpoint.failingSince}, now())` })
          .where(and(eq(webhookEndpoint.id, delivery.endpointId), isNull(webhookEndpoint.disabledAt)))
          .returning({
            failingFor: sql<number>`extract(epoch from now() - ${webhookEndpoint.failingSince}) * 1000`,
          });
        if (!endpoint || Number(endpoint.failingFor) < disableAfterMs) return false;
        await disable(tx, delivery.endpointId, 'failed continuously');
        return true;
      });
    },

    async nextDueInMs() {
      const [row] = await db
        .select({
          dueIn: sql<number | null>`extract(epoch from min(${webhookDelivery.nextAttemptAt}) - now()) * 1000`,
        })
        .from(webhookDelivery)
        .innerJoin(
          webhookEndpoint,
          and(eq(webhookEndpoint.id, webhookDelivery.endpointId), isNull(webhookEndpoint.disabledAt)),
        )
        .where(nextInLine);
      if (row?.dueIn === null || row?.dueIn === undefined) return undefined;
      return Math.max(0, Math.ceil(Number(row.dueIn)));
    },

    async pruneEvents(retentionDays, limit) {
      return inTransaction(db, async (tx) => {
        const pruned = await tx
          .delete(billingEvent)
          .where(
            inArray(
              billingEvent.sequence,
              tx
                .select({ sequence: billingEvent.sequence })
                .from(billingEvent)
                .where(
                  and(
                    lt(billingEvent.createdAt, sql`now() - make_interval(days => ${retentionDays}::int)`),
                    sql`not exists (select 1 from ${webhookDelivery} where ${webhookDelivery.eventSequence} = ${billingEvent.sequence} and ${webhookDelivery.status} = 'pending')`,
                  ),
                )
                .orderBy(asc(billingEvent.sequence))
                .limit(limit),
            ),
          )
          .returning({ sequence: billingEvent.sequence, type: billingEvent.type });
        const through = new Map<string, number>();
        for (const { sequence, type } of pruned)
          through.set(type, Math.max(through.get(type) ?? 0, sequence));
        if (through.size > 0) {
          await tx
            .insert(billingEventPruned)
            .values([...through].map(([type, throughSequence]) => ({ type, throughSequence })))
            .onConflictDoUpdate({
              target: billingEventPruned.type,
              set: {
                throughSequence: sql`greatest(${billingEventPruned.throughSequence}, excluded.through_sequence)`,
              },
            });
        }
        return pruned.length;
      });
    },

    async limitsChangesAfter(after, { tenantId, limit }) {
      const rows = await db
        .select({ sequence: billingEvent.sequence, data: billingEvent.data })
        .from(billingEvent)
        .where(
          and(
            eq(billingEvent.type, 'limits.changed'),
            gt(billingEvent.sequence, after),
            tenantId === undefined ? undefined : eq(billingEvent.tenantId, tenantId),
          ),
        )
        .orderBy(asc(billingEvent.sequence))
        .limit(limit);
      return rows.map(({ sequence, data }) => ({
        ...(data as Omit<LimitsChangedData, 'sequence'>),
        sequence,
      }));
    },

    async limitsChangesPosition() {
      const [row] = await db
        .select({
          newest: sql<
            string | null
          >`(select max(${billingEvent.sequence}) from ${billingEvent} where ${billingEvent.type} = 'limits.changed')`,
          prunedThrough: sql<
            string | null
          >`(select ${billingEventPruned.throughSequence} from ${billingEventPruned} where ${billingEventPruned.type} = 'limits.changed')`,
        })
        .from(sql`(select 1) as position`);
      return { newest: Number(row?.newest ?? 0), prunedThrough: Number(row?.prunedThrough ?? 0) };
    },

    async pendingCount() {
      const [row] = await db
        .select({ pending: sql<number>`count(*)::int` })
        .from(webhookDelivery)
        .innerJoin(
          webhookEndpoint,
          and(eq(webhookEndpoint.id, webhookDelivery.endpointId), isNull(webhookEndpoint.disabledAt)),
        )
        .where(eq(webhookDelivery.status, 'pending'));
      return Number(row?.pending ?? 0);
    },
  };
}
