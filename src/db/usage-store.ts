import { and, eq, isNull, sql } from 'drizzle-orm';
import type { PlanType } from '../contract/plans.js';
import { type Reservation, Resource } from '../contract/usage.js';
import { resourcePolicy } from '../domain/limits/effective-limits.js';
import { ceilingOf, remainingOf } from '../domain/limits/usage-policy.js';
import type { ReleaseOutcome, ReserveOutcome, UsageCounts, UsageStore } from '../domain/usage/usage-store.js';
import type { Database } from './database.js';
import { audit } from './journal.js';
import { type Executor, readTenant } from './rows.js';
import { reservation, usageCounter } from './schema.js';

/** Thrown inside a grant's transaction to roll back its key claim: the caller has stopped waiting. */
class Abandoned extends Error {}

/** Thrown inside a grant's transaction to roll it back: nothing of a refused reservation stays. */
class Refused extends Error {
  constructor(
    readonly limit: number | null,
    readonly used: number,
    readonly planId: PlanType,
  ) {
    super('limit exceeded');
  }
}

async function countsOf(db: Executor, tenantId: string): Promise<UsageCounts> {
  const rows = await db
    .select({ resource: usageCounter.resource, used: usageCounter.used })
    .from(usageCounter)
    .where(eq(usageCounter.organizationId, tenantId));
  const counts: UsageCounts = { deployments: 0, self_hosted_workers: 0 };
  for (const row of rows) {
    const resource = Resource.safeParse(row.resource);
    if (resource.success) counts[resource.data] = row.used;
  }
  return counts;
}

export function createUsageStore(db: Database): UsageStore {
  return {
    async usage(tenantId) {
      const record = await readTenant(db, tenantId);
      return record && { record, used: await countsOf(db, tenantId) };
    },

    async reserve(tenantId, request): Promise<ReserveOutcome> {
      const abandoned = () => request.notAfter !== undefined && Date.now() >= request.notAfter;
      try {
        return await db.transaction(async (tx): Promise<ReserveOutcome> => {
          // The transaction may start late (waiting for a connection while the database was away).
          if (abandoned()) return { kind: 'abandoned' };
          const record = await readTenant(tx, tenantId);
          if (!record) return { kind: 'tenant_not_found' };
          // The key is claimed first: a concurrent request with the same key waits here for the first
          // to commit (then replays its answer) or to roll back (then is judged on its own).
          const [claimed] = await tx
            .insert(reservation)
            .values({
              organizationId: tenantId,
              resource: request.resource,
              quantity: request.quantity,
              idempotencyKey: request.idempotencyKey,
              requestFingerprint: request.fingerprint,
              reference: request.reference ?? null,
              response: {},
            })
            .onConflictDoNothing()
            .returning({ id: reservation.id });
          if (!claimed) {
            const [first] = await tx
              .select({ fingerprint: reservation.requestFingerprint, response: reservation.response })
              .from(reservation)
              .where(
                and(
                  eq(reservation.organizationId, tenantId),
                  eq(reservation.idempotencyKey, request.idempotencyKey),
                ),
              );
            if (!first || first.fingerprint !== request.fingerprint) return { kind: 'key_reused' };
            return { kind: 'replayed', reservation: first.response as Reservation };
          }

          await tx
            .insert(usageCounter)
            .values({ organizationId: tenantId, resource: request.resource })
            .onConflictDoNothing();
          const policy = resourcePolicy(record, request.resource);
          const ceiling = ceilingOf(policy);
          // Checked again right before deciding: the key claim above may have waited for a lock.
          if (abandoned()) throw new Abandoned();
          // The decision: one conditional UPDATE, atomic whatever other replicas do at the same time.
          const [granted] = await tx
            .update(usageCounter)
            .set({ used: sql`${usageCounter.used} + ${request.quantity}`, updatedAt: sql`now()` })
            .where(
              and(
                eq(usageCounter.organizationId, tenantId),
                eq(usageCounter.resource, request.resource),
                ceiling === null ? undefined : sql`${usageCounter.used} + ${request.quantity} <= ${ceiling}`,
              ),
            )
            .returning({ used: usageCounter.used });
          if (!granted) {
            const counts = await countsOf(tx, tenantId);
            throw new Refused(policy.limit, counts[request.resource], record.planId);
          }
          const overageUnits =
            policy.limit === null ? 0 : Math.max(0, Math.min(request.quantity, granted.used - policy.limit));
          const answer: Reservation = {
            reservation_id: claimed.id,
            resource: request.resource,
            quantity: request.quantity,
            used: granted.used,
            limit: policy.limit,
            remaining: remainingOf(policy.limit, granted.used),
            overage: overageUnits > 0,
          };
          await tx
            .update(reservation)
            .set({ response: answer, overageUnits })
            .where(eq(reservation.id, claimed.id));
          return { kind: 'granted', reservation: answer, planId: record.planId };
        });
      } catch (error) {
        if (error instanceof Abandoned) return { kind: 'abandoned' };
        if (error instanceof Refused) {
          return { kind: 'refused', limit: error.limit, used: error.used, planId: error.planId };
        }
        throw error;
      }
    },

    async release(tenantId, reservationId): Promise<ReleaseOutcome> {
      return db.transaction(async (tx) => {
        const [released] = await tx
          .update(reservation)
          .set({ releasedAt: sql`now()` })
          .where(
            and(
              eq(reservation.id, reservationId),
              eq(reservation.organizationId, tenantId),
              isNull(reservation.releasedAt),
            ),
          )
          .returning({ resource: reservation.resource, quantity: reservation.quantity });
        if (released) {
          // Never below zero: a reconciliation (PUT /billing/usage) may have counted it out already.
          await tx
            .update(usageCounter)
            .set({
              used: sql`greatest(${usageCounter.used} - ${released.quantity}, 0)`,
              updatedAt: sql`now()`,
            })
            .where(
              and(eq(usageCounter.organizationId, tenantId), eq(usageCounter.resource, released.resource)),
            );
          return 'released';
        }
        const [known] = await tx
          .select({ id: reservation.id })
          .from(reservation)
          .where(and(eq(reservation.id, reservationId), eq(reservation.organizationId, tenantId)));
        return known ? 'already_released' : 'not_found';
      });
    },

    async setUsage(tenantId, counts, actor) {
      return db.transaction(async (tx) => {
        const record = await readTenant(tx, tenantId);
        if (!record) return undefined;
        const before = await countsOf(tx, tenantId);
        for (const resource of Resource.options) {
          const used = counts[resource];
          if (used === undefined) continue;
          await tx
            .insert(usageCounter)
            .values({ organizationId: tenantId, resource, used })
            .onConflictDoUpdate({
              target: [usageCounter.organizationId, usageCounter.resource],
              set: { used, updatedAt: sql`now()` },
            });
        }
        const after = await countsOf(tx, tenantId);
        const difference = Object.fromEntries(Resource.options.map((r) => [r, after[r] - before[r]]));
        await audit(tx, {
          actor,
          action: 'usage.reconcile',
          subjectType: 'tenant',
          subjectId: tenantId,
          before,
          after: { ...after, difference },
        });
        return { record, used: after };
      });
    },
  };
}
