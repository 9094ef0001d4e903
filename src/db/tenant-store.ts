import { type AnyColumn, and, desc, eq, getTableColumns, inArray, sql } from 'drizzle-orm';
import { union } from 'drizzle-orm/pg-core';
import { DomainError, orbPlanAlreadyMapped } from '../domain/errors.js';
import type { LimitsChange } from '../domain/limits/changes.js';
import type { TenantRecord } from '../domain/limits/effective-limits.js';
import type { TenantListQuery, TenantStore, Written } from '../domain/limits/tenant-store.js';
import { limitsChangedEvents } from '../domain/outbox/events.js';
import type { Database } from './database.js';
import { announce, audit } from './journal.js';
import { recordEvents } from './outbox.js';
import {
  type Executor,
  inByteOrder,
  keyset,
  microsecondsUtc,
  overrideColumns,
  planOf,
  readTenant,
  readTenants,
  readTenantsInOrder,
  startsWith,
  tenantIdAfter,
  tenantsOfCustomer,
} from './rows.js';
import { auditLog, customer, organizationToAccount, plan } from './schema.js';
import { inTransaction, serializeOn } from './transactions.js';

const SEED_LOCK = 7_245_002;

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

/**
 * Which tenants a listing's page of `rows` rows may hold. Without a prefix: the customer's (if
 * asked), after the cursor. With one: the first `rows` whose tenant id starts with it, and the
 * first `rows` whose customer id does — each read on its own index, in tenant-id order, so that
 * neither is a scan of every tenant whichever of the two matches many — of which the page keeps
 * the first `rows`.
 */
function tenantPageCondition(db: Executor, { prefix, customerId, after }: TenantListQuery, rows: number) {
  const common = and(
    customerId === undefined ? undefined : eq(organizationToAccount.customerId, customerId),
    tenantIdAfter(after),
  );
  if (prefix === undefined) return common;
  const firstMatching = (column: AnyColumn) =>
    db
      .select({ id: organizationToAccount.organizationId })
      .from(organizationToAccount)
      .where(and(startsWith(column, prefix), common))
      .orderBy(inByteOrder(organizationToAccount.organizationId))
      .limit(rows);
  return inArray(
    organizationToAccount.organizationId,
    union(
      firstMatching(organizationToAccount.organizationId),
      firstMatching(organizationToAccount.customerId),
    ),
  );
}

/** How many organizations each plan has now (through their customers), for the catalog listing. */
const tenantCounts = (db: Executor) =>
  db
    .select({ planId: customer.planId, tenants: sql<number>`count(*)::int`.as('tenants') })
    .from(organizationToAccount)
    .innerJoin(customer, eq(customer.id, organizationToAccount.customerId))
    .groupBy(customer.planId)
    .as('tenant_counts');

/** An audit state as the admin API answers it: an object or null; any other JSON as `{ value }`. */
function auditStateOf(state: unknown): Record<string, unknown> | null {
  if (state === null || state === undefined) return null;
  if (typeof state === 'object' && !Array.isArray(state)) return state as Record<string, unknown>;
  return { value: state };
}

/** Tenants, customers and the plan catalog: each write one transaction with its audit entry and notification. */
export function createTenantStore(db: Database): TenantStore {
  return {
    findTenant: (tenantId) => readTenant(db, tenantId),

    async listPlans() {
      const rows = await db.select().from(plan).orderBy(plan.id);
      return rows.map(planOf);
    },

    async planSummaries() {
      const counts = tenantCounts(db);
      const rows = await db
        .select({ plan: getTableColumns(plan), tenants: counts.tenants })
        .from(plan)
        .leftJoin(counts, eq(counts.planId, plan.id))
        .orderBy(plan.id);
      return rows.map((row) => ({ ...planOf(row.plan), tenant_count: row.tenants ?? 0 }));
    },

    async listTenants(query) {
      // One more than asked: whether a next page exists, without counting.
      const wanted = query.limit + 1;
      const rows = await readTenantsInOrder(db, tenantPageCondition(db, query, wanted), wanted);
      const tenants = rows.slice(0, query.limit);
      const last = tenants.at(-1);
      return { tenants, next: rows.length > query.limit && last ? last.tenantId : null };
    },

    async listAudit({ subjectId, limit, after }) {
      const rows = await db
        .select({ ...getTableColumns(auditLog), position: microsecondsUtc(auditLog.at) })
        .from(auditLog)
        .where(
          and(
            subjectId === undefined ? undefined : eq(auditLog.subjectId, subjectId),
            keyset.after(auditLog.at, auditLog.id, after, 'bigint'),
          ),
        )
        .orderBy(desc(auditLog.at), desc(auditLog.id))
        .limit(limit + 1);
      const page = keyset.page(rows, limit, (row) => String(row.id));
      return {
        entries: page.rows.map((row) => ({
          id: String(row.id),
          at: row.at,
          actor: row.actor,
          action: row.action,
          subjectType: row.subjectType,
          subjectId: row.subjectId,
          before: auditStateOf(row.before),
          after: auditStateOf(row.after),
        })),
        next: page.next,
      };
    },

    async updatePlan(planId, update, actor) {
      return inTransaction(db, async (tx) => {
        // The whole catalog (three rows), in id order: plan updates run one at a time, so two
        // admins mapping one Orb plan id to two plans at once get a 200 and a 409 — never a
        // UNIQUE violation. `no key update` leaves customers' foreign-key checks unblocked.
        const catalog = await tx.select().from(plan).orderBy(plan.id).for('no key update');
        const current = catalog.find((row) => row.id === planId);
        if (!current) return undefined;
        const orbPlanId = update.orb_external_plan_id;
        const holder =
          orbPlanId && catalog.find((row) => row.orbExternalPlanId === orbPlanId && row.id !== planId);
        if (holder) throw orbPlanAlreadyMapped(holder.id);
        const tenantsBefore = await readTenants(tx, { planId });
        const [updated] = await tx
          .update(plan)
          .set({
            deployments: update.deployments,
            selfHostedWorkers: update.self_hosted_workers,
            ...(update.soft_limits ? { softLimits: update.soft_limits } : {}),
            // Left out: kept; null: unmapped.
            ...(orbPlanId === undefined ? {} : { orbExternalPlanId: orbPlanId }),
            updatedAt: sql`now()`,
          })
          .where(eq(plan.id, planId))
          .returning();
        if (!updated) throw new Error(`plan ${planId} vanished inside its own transaction`);
        const before = planOf(current);
        const after = planOf(updated);
        await audit(tx, {
          actor,
          action: 'plan.update',
          subjectType: 'plan',
          subjectId: planId,
          before,
          after,
        });
        const tenantsAfter = await readTenants(tx, { planId });
        await recordEvents(tx, limitsChangedEvents(tenantsBefore, tenantsAfter, 'catalog'));
        const change: LimitsChange = { all: true };
        await announce(tx, change);
        return { before, after, change };
      });
    },

    async putTenant(tenantId, update, actor): Promise<Written<TenantRecord>> {
      return inTransaction(db, async (tx) => {
        // Writers of one tenant take turns from the start: racing first writes (the tenant, then
        // its new customer) locked the two rows in opposite orders and deadlocked.
        await serializeOn(tx, 'tenant', tenantId);
        const before = await readTenant(tx, tenantId, true);
        const customerId = update.customer_id ?? before?.customerId ?? tenantId;
        const [existingCustomer] = await tx
          .select({ planId: customer.planId })
          .from(customer)
          .where(eq(customer.id, customerId))
          .for('update');
        // What the write may change: this tenant, and every organization sharing its customer's plan.
        const scope = [...new Set([tenantId, ...(await tenantsOfCustomer(tx, customerId))])];
        const tenantsBefore = await readTenants(tx, { tenantIds: scope });
        let customerPlanChanged = false;
        if (!existingCustomer) {
          if (!update.plan_id) {
            throw new DomainError(
              'plan_required',
              `Customer ${customerId} does not exist: plan_id is required`,
            );
          }
          await tx.insert(customer).values({ id: customerId, planId: update.plan_id }).onConflictDoNothing();
        } else if (update.plan_id && update.plan_id !== existingCustomer.planId) {
          await tx
            .update(customer)
            .set({ planId: update.plan_id, updatedAt: sql`now()` })
            .where(eq(customer.id, customerId));
          customerPlanChanged = true;
        }
        const overrides = update.overrides ?? before?.overrides ?? {};
        const deployments = overrideColumns(overrides.deployments);
        const workers = overrideColumns(overrides.self_hosted_workers);
        const columns = {
          customerId,
          deploymentAllowance: deployments.allowance,
          deploymentUnlimited: deployments.unlimited,
          workerAllowance: workers.allowance,
          workerUnlimited: workers.unlimited,
          softLimits: update.soft_limits ?? before?.softLimitOverrides ?? {},
          updatedAt: sql`now()`,
        };
        await tx
          .insert(organizationToAccount)
          .values({ organizationId: tenantId, ...columns })
          .onConflictDoUpdate({ target: organizationToAccount.organizationId, set: columns });
        const after = await auditTenantWrite(tx, { tenantId, action: 'tenant.put', actor, before });
        const tenantsAfter = await readTenants(tx, { tenantIds: scope });
        await recordEvents(tx, limitsChangedEvents(tenantsBefore, tenantsAfter, 'admin'));
        // A customer's plan is shared by every organization mapped to it.
        const tenants = customerPlanChanged ? await tenantsOfCustomer(tx, customerId) : [tenantId];
        const change: LimitsChange = { tenants };
        await announce(tx, change);
        return { before, after, change };
      });
    },

    async clearOverrides(tenantId, actor) {
      return inTransaction(db, async (tx) => {
        await serializeOn(tx, 'tenant', tenantId);
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
        await recordEvents(tx, limitsChangedEvents([before], [after], 'admin'));
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
  };
}
