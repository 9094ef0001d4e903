import { and, count, desc, eq, gt, isNotNull, isNull, or, sql } from 'drizzle-orm';
import { PlanType } from '../contract/plans.js';
import { ReleaseReason, Resource } from '../contract/usage.js';
import type {
  ExpiredLease,
  Grant,
  Held,
  ReleaseOutcome,
  RenewOutcome,
  ReservationState,
  ReserveOutcome,
  UsageCounts,
  UsageStore,
} from '../domain/usage/usage-store.js';
import type { Database } from './database.js';
import { audit } from './journal.js';
import { type Executor, effectiveLimitOf, inByteOrder, keyset, microsecondsUtc, readTenant } from './rows.js';
import { customer, organizationToAccount, plan, reservation, usageCounter } from './schema.js';

const isResource = (value: unknown): value is Resource => Resource.safeParse(value).success;

/** As ms since the epoch: the drivers disagree on how they hand over a timestamptz. */
const epochMs = (column: string) =>
  sql<number | null>`(extract(epoch from ${sql.identifier(column)}) * 1000)::double precision`;
const dateOf = (ms: number | null) => (ms === null ? null : new Date(ms));

/** A named parameter of a prepared call, typed as the function declares it. */
const arg = (name: string, type: string) => sql`${sql.placeholder(name)}::${sql.raw(type)}`;

/**
 * `billing_reserve` (drizzle/0004_reserve_functions.sql, remade by 0006): the whole grant —
 * policy, key claim, decision, answer — in one statement, so one round trip. Prepared: drizzle's
 * postgres-js driver asks postgres.js to prepare only a query given a name (`.prepare(name)`);
 * `db.execute` and unnamed builder queries go unprepared, which postgres.js sends as
 * Parse/Describe, waits for the parameter types, then Bind/Execute — two round trips each.
 * Prepared, each pool connection pays that once; from then on a call is Bind/Execute of the
 * statement it already has.
 */
/** A grant's facts, as `billing_reserve` and `billing_renew` both answer them (see `grantOf`). */
const grantColumns = () => ({
  reservationId: sql<string | null>`reservation_id`,
  resource: sql<string | null>`resource`,
  quantity: sql<number | null>`quantity`,
  used: sql<number | null>`used`,
  limit: sql<number | null>`"limit"`,
  overage: sql<boolean | null>`overage`,
  expiresAtMs: epochMs('expires_at'),
});

function prepareReserve(db: Database) {
  const args = sql.join(
    [
      arg('tenantId', 'text'),
      arg('resource', 'text'),
      arg('quantity', 'integer'),
      arg('idempotencyKey', 'text'),
      arg('fingerprint', 'text'),
      arg('reference', 'text'),
      arg('notAfter', 'double precision'),
      arg('leaseSeconds', 'integer'),
    ],
    sql`, `,
  );
  return db
    .select({
      outcome: sql<ReserveOutcome['kind']>`outcome`,
      ...grantColumns(),
      planId: sql<string | null>`plan_id`,
      releasedAtMs: epochMs('released_at'),
    })
    .from(sql`billing_reserve(${args})`)
    .prepare('billing_reserve');
}

/**
 * `billing_release`: marks the reservation released (or expired, when its lease had ended) and
 * counts it out, in one round trip (prepared).
 */
function prepareRelease(db: Database) {
  const args = sql.join([arg('tenantId', 'text'), arg('reservationId', 'uuid')], sql`, `);
  return db
    .select({
      outcome: sql<ReleaseOutcome['kind']>`outcome`,
      resource: sql<string | null>`resource`,
      quantity: sql<number | null>`quantity`,
      reference: sql<string | null>`reference`,
    })
    .from(sql`billing_release(${args})`)
    .prepare('billing_release');
}

/** A row of `grantColumns`. */
interface GrantRow {
  outcome: string;
  reservationId: string | null;
  resource: string | null;
  quantity: number | null;
  used: number | null;
  limit: number | null;
  overage: boolean | null;
  expiresAtMs: number | null;
}

function grantOf(row: GrantRow, call: string): Grant {
  const { reservationId, resource, quantity, used, limit, overage, expiresAtMs } = row;
  if (
    reservationId === null ||
    !isResource(resource) ||
    quantity === null ||
    used === null ||
    overage === null
  ) {
    // A TypeError: a bug (ours or the migration's), never mistaken for an unreachable store.
    throw new TypeError(`${call} answered an incomplete ${row.outcome} row`);
  }
  return { reservationId, resource, quantity, used, limit, overage, expiresAt: dateOf(expiresAtMs) };
}

/** `billing_renew` (drizzle/0007_leases.sql): the lease moved, or why not, in one round trip (prepared). */
function prepareRenew(db: Database) {
  const args = sql.join(
    [arg('tenantId', 'text'), arg('reservationId', 'uuid'), arg('leaseSeconds', 'integer')],
    sql`, `,
  );
  return db
    .select({
      outcome: sql<RenewOutcome['kind']>`outcome`,
      ...grantColumns(),
      expiredNow: sql<boolean | null>`expired_now`,
      reference: sql<string | null>`reference`,
    })
    .from(sql`billing_renew(${args})`)
    .prepare('billing_renew');
}

/** A lease `billing_expire_leases` or `billing_renew` released as expired. */
function expiredLeaseOf(row: {
  reservationId: string | null;
  tenantId: string | null;
  resource: string | null;
  quantity: number | null;
  reference: string | null;
}): ExpiredLease {
  const { reservationId, tenantId, resource, quantity, reference } = row;
  if (reservationId === null || tenantId === null || !isResource(resource) || quantity === null) {
    throw new TypeError('an expired lease came back incomplete');
  }
  return { reservationId, tenantId, resource, quantity, reference };
}

const isReleaseReason = (value: unknown): value is ReleaseReason => ReleaseReason.safeParse(value).success;

/** Which reservations a listing's `state` means. */
function stateCondition(state: ReservationState) {
  if (state === 'active') return isNull(reservation.releasedAt);
  return eq(reservation.releaseReason, state === 'expired' ? 'expired' : 'released');
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
  const reserveCall = prepareReserve(db);
  const releaseCall = prepareRelease(db);
  const renewCall = prepareRenew(db);
  return {
    async usage(tenantId) {
      const record = await readTenant(db, tenantId);
      return record && { record, used: await countsOf(db, tenantId) };
    },

    async reserve(tenantId, request): Promise<ReserveOutcome> {
      // Checked here on this process's clock, and again in the database on its own (see the migration).
      if (request.notAfter !== undefined && Date.now() >= request.notAfter) return { kind: 'abandoned' };
      const [row] = await reserveCall.execute({
        tenantId,
        resource: request.resource,
        quantity: request.quantity,
        idempotencyKey: request.idempotencyKey,
        fingerprint: request.fingerprint,
        reference: request.reference ?? null,
        notAfter: request.notAfter ?? null,
        leaseSeconds: request.leaseSeconds ?? null,
      });
      if (!row) throw new TypeError('billing_reserve answered no row');
      switch (row.outcome) {
        case 'granted':
          return {
            kind: 'granted',
            grant: grantOf(row, 'billing_reserve'),
            planId: PlanType.parse(row.planId),
          };
        case 'replayed':
          return {
            kind: 'replayed',
            grant: grantOf(row, 'billing_reserve'),
            releasedAt: dateOf(row.releasedAtMs),
          };
        case 'refused':
          if (row.used === null) throw new TypeError('billing_reserve answered a refusal without usage');
          // A refusal changes no row, so no trigger sees it: `limit.reached` (once) is assessed
          // here, a second statement (drizzle/0011_limit_alerts.sql) — only when the limit was not
          // full: a full one was `reached` by the rise that filled it, and a crowd refused at a full
          // limit must not queue a statement each for nothing.
          if (row.limit !== null && row.used < row.limit) {
            await db.execute(sql`select billing_assess_alert(${tenantId}, ${request.resource}, 'refused')`);
          }
          return { kind: 'refused', limit: row.limit, used: row.used, planId: PlanType.parse(row.planId) };
        case 'key_reused':
        case 'tenant_not_found':
        case 'abandoned':
          return { kind: row.outcome };
        default:
          throw new TypeError(`billing_reserve answered ${String(row.outcome)}`);
      }
    },

    async release(tenantId, reservationId): Promise<ReleaseOutcome> {
      const [row] = await releaseCall.execute({ tenantId, reservationId });
      if (!row) throw new TypeError('billing_release answered no row');
      switch (row.outcome) {
        case 'expired':
          return { kind: 'expired', lease: expiredLeaseOf({ ...row, reservationId, tenantId }) };
        case 'released':
          if (!isResource(row.resource)) throw new TypeError('billing_release answered no resource');
          return { kind: 'released', resource: row.resource };
        case 'already_released':
        case 'not_found':
          return { kind: row.outcome };
        default:
          throw new TypeError(`billing_release answered ${String(row.outcome)}`);
      }
    },

    async renew(tenantId, reservationId, leaseSeconds): Promise<RenewOutcome> {
      const [row] = await renewCall.execute({ tenantId, reservationId, leaseSeconds: leaseSeconds ?? null });
      if (!row) throw new TypeError('billing_renew answered no row');
      switch (row.outcome) {
        case 'renewed':
          return { kind: 'renewed', grant: grantOf(row, 'billing_renew') };
        case 'expired':
          return { kind: 'expired', now: row.expiredNow ? expiredLeaseOf({ ...row, tenantId }) : null };
        case 'released':
        case 'not_leased':
        case 'not_found':
          return { kind: row.outcome };
        default:
          throw new TypeError(`billing_renew answered ${String(row.outcome)}`);
      }
    },

    async expireLeases(max) {
      const rows = await db
        .select({
          reservationId: sql<string | null>`reservation_id`,
          tenantId: sql<string | null>`tenant_id`,
          resource: sql<string | null>`resource`,
          quantity: sql<number | null>`quantity`,
          reference: sql<string | null>`reference`,
        })
        .from(sql`billing_expire_leases(${max}::integer)`);
      return rows.map(expiredLeaseOf);
    },

    async listReservations(tenantId, { state, resource, limit, after }) {
      if (!(await readTenant(db, tenantId))) return undefined;
      const rows = await db
        .select({
          reservationId: reservation.id,
          resource: reservation.resource,
          quantity: reservation.quantity,
          reference: reservation.reference,
          createdAtMs: epochMs('created_at'),
          expiresAtMs: epochMs('expires_at'),
          releasedAtMs: epochMs('released_at'),
          releaseReason: reservation.releaseReason,
          position: microsecondsUtc(reservation.createdAt),
        })
        .from(reservation)
        .where(
          and(
            eq(reservation.organizationId, tenantId),
            stateCondition(state),
            resource === undefined ? undefined : eq(reservation.resource, resource),
            keyset.after(reservation.createdAt, reservation.id, after, 'uuid'),
          ),
        )
        .orderBy(desc(reservation.createdAt), desc(reservation.id))
        .limit(limit + 1);
      const page = keyset.page(rows, limit, (row) => row.reservationId);
      return {
        reservations: page.rows.map((row) => {
          const { reservationId, resource, quantity, reference, createdAtMs, releaseReason } = row;
          if (!isResource(resource) || createdAtMs === null) {
            throw new TypeError(`reservation ${reservationId} is incomplete`);
          }
          return {
            reservationId,
            resource,
            quantity,
            reference,
            createdAt: new Date(createdAtMs),
            expiresAt: dateOf(row.expiresAtMs),
            releasedAt: dateOf(row.releasedAtMs),
            releaseReason: isReleaseReason(releaseReason) ? releaseReason : null,
          };
        }),
        next: page.next,
      };
    },

    entitlements(tenantId) {
      // One snapshot: the limits, the counters and the reservations as of one moment.
      return db.transaction(
        async (tx) => {
          const record = await readTenant(tx, tenantId);
          if (!record) return undefined;
          const used = await countsOf(tx, tenantId);
          const rows = await tx
            .select({
              resource: reservation.resource,
              active: count(),
              leased:
                sql<number>`coalesce(sum(${reservation.quantity}) filter (where ${reservation.expiresAt} is not null), 0)`.mapWith(
                  Number,
                ),
            })
            .from(reservation)
            .where(and(eq(reservation.organizationId, tenantId), isNull(reservation.releasedAt)))
            .groupBy(reservation.resource);
          const held = Object.fromEntries(
            Resource.options.map((resource) => {
              const row = rows.find((candidate) => candidate.resource === resource);
              return [resource, { activeReservations: row?.active ?? 0, leasedQuantity: row?.leased ?? 0 }];
            }),
          ) as Record<Resource, Held>;
          return { record, used, held };
        },
        { isolationLevel: 'repeatable read', accessMode: 'read only' },
      );
    },

    async nearLimits({ minPercent, limit }) {
      // Usage of 0 is near no limit (min_percent is at least 1; a limit of 0 with none is not over
      // it): every other counter, joined once to its tenant's effective limit.
      const counters = db
        .select({
          tenantId: usageCounter.organizationId,
          resource: usageCounter.resource,
          used: usageCounter.used,
          limit: effectiveLimitOf(usageCounter.resource).as('effective_limit'),
        })
        .from(usageCounter)
        .innerJoin(
          organizationToAccount,
          eq(organizationToAccount.organizationId, usageCounter.organizationId),
        )
        .innerJoin(customer, eq(customer.id, organizationToAccount.customerId))
        .innerJoin(plan, eq(plan.id, customer.planId))
        .where(gt(usageCounter.used, 0))
        .as('counters');
      const rows = await db
        .select()
        .from(counters)
        .where(
          and(
            isNotNull(counters.limit),
            // In whole numbers (bigint: no overflow, no rounding): used ≥ minPercent % of limit.
            or(
              eq(counters.limit, 0),
              sql`${counters.used}::bigint * 100 >= ${minPercent}::bigint * ${counters.limit}`,
            ),
          ),
        )
        // Past a limit of 0 first (used ÷ 0: NULL, first in a descending order).
        .orderBy(
          sql`${counters.used}::float8 / nullif(${counters.limit}, 0) desc nulls first`,
          inByteOrder(counters.tenantId),
          counters.resource,
        )
        .limit(limit);
      return rows.map(({ tenantId, resource, used, limit: effective }) => {
        if (!isResource(resource) || effective === null) {
          throw new TypeError(`usage counter ${tenantId}/${resource} is no finite limit's`);
        }
        return { tenantId, resource, used, limit: effective };
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
