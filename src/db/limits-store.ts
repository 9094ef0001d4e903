import { and, eq, sql } from 'drizzle-orm';
import { PlanType } from '../contract/plans.js';
import type { LimitOverrides, TenantRecord } from '../limits/effective-limits.js';
import { DomainError } from '../limits/errors.js';
import type {
  LimitsChange,
  LimitsStore,
  PlanRecord,
  TenantSettings,
  Written,
} from '../limits/limits-store.js';
import type { Database, DatabaseHandle } from './database.js';
import { auditLog, customer, organizationToAccount, plan } from './schema.js';
import { createUsageStore } from './usage-store.js';
import { createWebhookStore } from './webhook-store.js';

export const LIMITS_CHANNEL = 'billing_limits_changed';
/** pg_notify payloads are limited to 8000 bytes; a longer tenant list becomes "everything changed". */
const MAX_NOTIFY_PAYLOAD = 7_900;
const SEED_LOCK = 7_245_002;

export type Executor = Pick<Database, 'select' | 'insert' | 'update' | 'execute'>;

const tenantColumns = {
  tenantId: organizationToAccount.organizationId,
  customerId: organizationToAccount.customerId,
  planId: plan.id,
  deployments: plan.deployments,
  selfHostedWorkers: plan.selfHostedWorkers,
  deploymentAllowance: organizationToAccount.deploymentAllowance,
  deploymentUnlimited: organizationToAccount.deploymentUnlimited,
  workerAllowance: organizationToAccount.workerAllowance,
  workerUnlimited: organizationToAccount.workerUnlimited,
  planSoftLimits: plan.softLimits,
  softLimitOverrides: organizationToAccount.softLimits,
};

function overrideOf(allowance: number | null, unlimited: boolean): number | null | undefined {
  if (unlimited) return null;
  return allowance ?? undefined;
}

function overrideColumns(value: number | null | undefined) {
  return { allowance: value ?? null, unlimited: value === null };
}

function planIdOf(id: string): PlanType {
  // The catalog only holds the plans the wire contract knows; anything else is a corrupted row.
  return PlanType.parse(id);
}

export async function readTenant(
  db: Executor,
  tenantId: string,
  lock = false,
): Promise<TenantRecord | undefined> {
  const query = db
    .select(tenantColumns)
    .from(organizationToAccount)
    .innerJoin(customer, eq(customer.id, organizationToAccount.customerId))
    .innerJoin(plan, eq(plan.id, customer.planId))
    .where(eq(organizationToAccount.organizationId, tenantId))
    .limit(1);
  const [row] = lock ? await query.for('update', { of: organizationToAccount }) : await query;
  if (!row) return undefined;
  const overrides: LimitOverrides = {};
  const deployments = overrideOf(row.deploymentAllowance, row.deploymentUnlimited);
  const workers = overrideOf(row.workerAllowance, row.workerUnlimited);
  if (deployments !== undefined) overrides.deployments = deployments;
  if (workers !== undefined) overrides.self_hosted_workers = workers;
  return {
    tenantId: row.tenantId,
    customerId: row.customerId,
    planId: planIdOf(row.planId),
    plan: { deployments: row.deployments, self_hosted_workers: row.selfHostedWorkers },
    overrides,
    planSoftLimits: row.planSoftLimits,
    softLimitOverrides: row.softLimitOverrides,
  };
}

function toPlanRecord(row: typeof plan.$inferSelect): PlanRecord {
  return {
    id: planIdOf(row.id),
    deployments: row.deployments,
    self_hosted_workers: row.selfHostedWorkers,
    softLimits: row.softLimits,
    orbExternalPlanId: row.orbExternalPlanId,
  };
}

export async function announce(db: Executor, change: LimitsChange): Promise<void> {
  let payload = JSON.stringify(change);
  if (payload.length > MAX_NOTIFY_PAYLOAD) payload = JSON.stringify({ all: true });
  // Delivered to every listening replica when (and only if) the transaction commits.
  await db.execute(sql`select pg_notify(${LIMITS_CHANNEL}, ${payload})`);
}

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

/** Every organization mapped to a customer: they share its plan, so a plan change is a change for each. */
export async function tenantsOfCustomer(db: Executor, customerId: string): Promise<string[]> {
  const rows = await db
    .select({ id: organizationToAccount.organizationId })
    .from(organizationToAccount)
    .where(eq(organizationToAccount.customerId, customerId));
  return rows.map((row) => row.id);
}

/** Reads a tenant back after a write in the same transaction and audits the write, before → after. */
async function auditTenantWrite(
  db: Executor,
  write: { tenantId: string; action: string; actor: string; before: TenantRecord | undefined },
): Promise<TenantRecord> {
  const after = await readTenant(db, write.tenantId);
  if (!after) throw new Error(`tenant ${write.tenantId} vanished inside its own transaction`);
  await audit(db, {
    actor: write.actor,
    action: write.action,
    subjectType: 'tenant',
    subjectId: write.tenantId,
    before: write.before,
    after,
  });
  return after;
}

function parseChange(payload: string): LimitsChange {
  try {
    const value: unknown = JSON.parse(payload);
    if (typeof value === 'object' && value !== null && 'tenants' in value && Array.isArray(value.tenants)) {
      return { tenants: value.tenants.filter((id): id is string => typeof id === 'string') };
    }
  } catch {
    // fall through: an unreadable notification must still not leave stale answers behind
  }
  return { all: true };
}

/** The store on an open database; resolves once it listens for other replicas' changes. */
export async function createLimitsStore(handle: DatabaseHandle): Promise<LimitsStore> {
  const { db } = handle;
  const listeners = new Set<(change: LimitsChange) => void>();
  await handle.listen(LIMITS_CHANNEL, (payload) => {
    const change = parseChange(payload);
    for (const listener of listeners) listener(change);
  });

  return {
    ...createWebhookStore(db),
    ...createUsageStore(db),
    findTenant: (tenantId) => readTenant(db, tenantId),

    async listPlans() {
      const rows = await db.select().from(plan).orderBy(plan.id);
      return rows.map(toPlanRecord);
    },

    async updatePlan(planId, limits, actor) {
      return db.transaction(async (tx) => {
        const [current] = await tx.select().from(plan).where(eq(plan.id, planId)).for('update');
        if (!current) return undefined;
        const [updated] = await tx
          .update(plan)
          .set({
            deployments: limits.deployments,
            selfHostedWorkers: limits.self_hosted_workers,
            ...(limits.softLimits ? { softLimits: limits.softLimits } : {}),
            updatedAt: sql`now()`,
          })
          .where(eq(plan.id, planId))
          .returning();
        if (!updated) throw new Error(`plan ${planId} vanished inside its own transaction`);
        const before = toPlanRecord(current);
        const after = toPlanRecord(updated);
        await audit(tx, {
          actor,
          action: 'plan.update',
          subjectType: 'plan',
          subjectId: planId,
          before,
          after,
        });
        const change: LimitsChange = { all: true };
        await announce(tx, change);
        return { before, after, change };
      });
    },

    async putTenant(tenantId, settings: TenantSettings, actor): Promise<Written<TenantRecord>> {
      return db.transaction(async (tx) => {
        const before = await readTenant(tx, tenantId, true);
        const customerId = settings.customerId ?? before?.customerId ?? tenantId;
        const [existingCustomer] = await tx
          .select({ planId: customer.planId })
          .from(customer)
          .where(eq(customer.id, customerId))
          .for('update');
        let customerPlanChanged = false;
        if (!existingCustomer) {
          if (!settings.planId) {
            throw new DomainError(
              'plan_required',
              `Customer ${customerId} does not exist: plan_id is required`,
            );
          }
          await tx.insert(customer).values({ id: customerId, planId: settings.planId }).onConflictDoNothing();
        } else if (settings.planId && settings.planId !== existingCustomer.planId) {
          await tx
            .update(customer)
            .set({ planId: settings.planId, updatedAt: sql`now()` })
            .where(eq(customer.id, customerId));
          customerPlanChanged = true;
        }
        const overrides = settings.overrides ?? before?.overrides ?? {};
        const deployments = overrideColumns(overrides.deployments);
        const workers = overrideColumns(overrides.self_hosted_workers);
        const columns = {
          customerId,
          deploymentAllowance: deployments.allowance,
          deploymentUnlimited: deployments.unlimited,
          workerAllowance: workers.allowance,
          workerUnlimited: workers.unlimited,
          softLimits: settings.softLimits ?? before?.softLimitOverrides ?? {},
          updatedAt: sql`now()`,
        };
        await tx
          .insert(organizationToAccount)
          .values({ organizationId: tenantId, ...columns })
          .onConflictDoUpdate({ target: organizationToAccount.organizationId, set: columns });
        const after = await auditTenantWrite(tx, { tenantId, action: 'tenant.put', actor, before });
        // A customer's plan is shared by every organization mapped to it.
        const tenants = customerPlanChanged ? await tenantsOfCustomer(tx, customerId) : [tenantId];
        const change: LimitsChange = { tenants };
        await announce(tx, change);
        return { before, after, change };
      });
    },

    async clearOverrides(tenantId, actor) {
      return db.transaction(async (tx) => {
        const before = await readTenant(tx, tenantId, true);
        if (!before) return undefined;
        await tx
          .update(organizationToAccount)
          .set({
            deploymentAllowance: null,
            deploymentUnlimited: false,
            workerAllowance: null,
            workerUnlimited: false,
            updatedAt: sql`now()`,
          })
          .where(eq(organizationToAccount.organizationId, tenantId));
        const after = await auditTenantWrite(tx, {
          tenantId,
          action: 'tenant.clear_overrides',
          actor,
          before,
        });
        const change: LimitsChange = { tenants: [tenantId] };
        await announce(tx, change);
        return { before, after, change };
      });
    },

    async seedOnce(seed, tenants) {
      return db.transaction(async (tx) => {
        // Replicas starting together on one database must not both seed.
        await tx.execute(sql`select pg_advisory_xact_lock(${SEED_LOCK})`);
        const [done] = await tx
          .select({ id: auditLog.id })
          .from(auditLog)
          .where(and(eq(auditLog.action, 'seed'), eq(auditLog.subjectId, seed)))
          .limit(1);
        if (done) return false;
        for (const { tenantId, planId } of tenants) {
          await tx.insert(customer).values({ id: tenantId, planId }).onConflictDoNothing();
          await tx
            .insert(organizationToAccount)
            .values({ organizationId: tenantId, customerId: tenantId })
            .onConflictDoNothing();
        }
        await audit(tx, {
          actor: 'seed',
          action: 'seed',
          subjectType: 'seed',
          subjectId: seed,
          before: null,
          after: tenants,
        });
        await announce(tx, { tenants: tenants.map((t) => t.tenantId) });
        return true;
      });
    },

    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    ping: () => handle.ping(),
    pendingMigrations: () => handle.pendingMigrations(),
    close: () => handle.close(),
  };
}
