import { eq, sql } from 'drizzle-orm';
import { PlanType } from '../contract/plans.js';
import { Resource } from '../contract/usage.js';
import type {
  Grant,
  ReleaseOutcome,
  ReserveOutcome,
  UsageCounts,
  UsageStore,
} from '../domain/usage/usage-store.js';
import type { Database } from './database.js';
import { audit } from './journal.js';
import { type Executor, readTenant } from './rows.js';
import { usageCounter } from './schema.js';

const isResource = (value: unknown): value is Resource => Resource.safeParse(value).success;

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
    ],
    sql`, `,
  );
  return db
    .select({
      outcome: sql<ReserveOutcome['kind']>`outcome`,
      reservationId: sql<string | null>`reservation_id`,
      resource: sql<string | null>`resource`,
      quantity: sql<number | null>`quantity`,
      used: sql<number | null>`used`,
      limit: sql<number | null>`"limit"`,
      overage: sql<boolean | null>`overage`,
      planId: sql<string | null>`plan_id`,
      // As ms since the epoch: the drivers disagree on how they hand over a timestamptz.
      releasedAtMs: sql<number | null>`(extract(epoch from released_at) * 1000)::double precision`,
    })
    .from(sql`billing_reserve(${args})`)
    .prepare('billing_reserve');
}

/** `billing_release`: marks the reservation released and counts it out, in one round trip (prepared). */
function prepareRelease(db: Database) {
  const args = sql.join([arg('tenantId', 'text'), arg('reservationId', 'uuid')], sql`, `);
  return db
    .select({ outcome: sql<ReleaseOutcome>`outcome` })
    .from(sql`billing_release(${args}) as released(outcome)`)
    .prepare('billing_release');
}

type ReserveRow = Awaited<ReturnType<ReturnType<typeof prepareReserve>['execute']>>[number];

function grantOf(row: ReserveRow): Grant {
  const { reservationId, resource, quantity, used, limit, overage } = row;
  if (
    reservationId === null ||
    !isResource(resource) ||
    quantity === null ||
    used === null ||
    overage === null
  ) {
    // A TypeError: a bug (ours or the migration's), never mistaken for an unreachable store.
    throw new TypeError(`billing_reserve answered an incomplete ${row.outcome} row`);
  }
  return { reservationId, resource, quantity, used, limit, overage };
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
      });
      if (!row) throw new TypeError('billing_reserve answered no row');
      switch (row.outcome) {
        case 'granted':
          return { kind: 'granted', grant: grantOf(row), planId: PlanType.parse(row.planId) };
        case 'replayed': {
          const { releasedAtMs } = row;
          return {
            kind: 'replayed',
            grant: grantOf(row),
            releasedAt: releasedAtMs === null ? null : new Date(releasedAtMs),
          };
        }
        case 'refused':
          if (row.used === null) throw new TypeError('billing_reserve answered a refusal without usage');
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
      return row.outcome;
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
