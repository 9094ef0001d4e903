import { type AnyColumn, eq, inArray, type SQL, sql } from 'drizzle-orm';
import type { LimitOverrides, PlanView } from '../contract/admin.js';
import type { PagePosition } from '../contract/cursor.js';
import { PlanType } from '../contract/plans.js';
import type { TenantRecord } from '../domain/limits/effective-limits.js';
import type { Database } from './database.js';
import { customer, organizationToAccount, plan } from './schema.js';

/**
 * Newest-first lists, a page at a time, by (time, id) — keyset paging: the condition for the rows
 * after `after` (none without one), and the page out of the `limit + 1` rows read (one more than
 * asked: whether a next page exists, without counting) with where the next one starts.
 */
export const keyset = {
  after(
    time: AnyColumn,
    id: AnyColumn,
    after: PagePosition | undefined,
    idType: 'uuid' | 'text',
  ): SQL | undefined {
    if (after === undefined) return undefined;
    return sql`(${time}, ${id}) < (${after.at}::timestamptz, ${after.id}::${sql.raw(idType)})`;
  },
  page<Row extends { position: string }>(
    rows: Row[],
    limit: number,
    idOf: (row: Row) => string,
  ): { rows: Row[]; next: PagePosition | null } {
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { rows: page, next: rows.length > limit && last ? { at: last.position, id: idOf(last) } : null };
  },
};

/** A database or a transaction: what every row helper runs on. */
export type Executor = Pick<Database, 'select' | 'insert' | 'update' | 'execute'>;

/**
 * A time to the microsecond, in UTC, as text: a page's position (a JavaScript Date holds only
 * milliseconds, and a position rounded to them would skip or repeat rows).
 */
export const microsecondsUtc = (column: AnyColumn): SQL<string> =>
  sql<string>`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

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

/** An override's two columns (see `organizationToAccount`): absent = inherit, `null` = unlimited. */
export function overrideColumns(value: number | null | undefined) {
  return { allowance: value ?? null, unlimited: value === null };
}

function planIdOf(id: string): PlanType {
  // The catalog only holds the plans the wire contract knows; anything else is a corrupted row.
  return PlanType.parse(id);
}

type TenantRow = Awaited<ReturnType<typeof tenantsQuery>>[number];

function tenantRecordOf(row: TenantRow): TenantRecord {
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

const tenantsQuery = (db: Executor) =>
  db
    .select(tenantColumns)
    .from(organizationToAccount)
    .innerJoin(customer, eq(customer.id, organizationToAccount.customerId))
    .innerJoin(plan, eq(plan.id, customer.planId));

/** One tenant with its customer's plan and its own overrides; `lock` holds its row until the transaction ends. */
export async function readTenant(
  db: Executor,
  tenantId: string,
  lock = false,
): Promise<TenantRecord | undefined> {
  const query = tenantsQuery(db).where(eq(organizationToAccount.organizationId, tenantId)).limit(1);
  const [row] = lock ? await query.for('update', { of: organizationToAccount }) : await query;
  return row && tenantRecordOf(row);
}

/** The tenants named, or every tenant on a plan: what a write may change, read before and after it. */
export async function readTenants(
  db: Executor,
  which: { tenantIds: readonly string[] } | { planId: PlanType },
): Promise<TenantRecord[]> {
  if ('tenantIds' in which && which.tenantIds.length === 0) return [];
  const rows = await tenantsQuery(db).where(
    'tenantIds' in which
      ? inArray(organizationToAccount.organizationId, [...which.tenantIds])
      : eq(customer.planId, which.planId),
  );
  return rows.map(tenantRecordOf);
}

/** A catalog row as the admin API shows it. */
export function planOf(row: typeof plan.$inferSelect): PlanView {
  return {
    plan_id: planIdOf(row.id),
    deployments: row.deployments,
    self_hosted_workers: row.selfHostedWorkers,
    soft_limits: row.softLimits,
    orb_external_plan_id: row.orbExternalPlanId,
  };
}

/** Every organization mapped to a customer: they share its plan, so a plan change is a change for each. */
export async function tenantsOfCustomer(db: Executor, customerId: string): Promise<string[]> {
  const rows = await db
    .select({ id: organizationToAccount.organizationId })
    .from(organizationToAccount)
    .where(eq(organizationToAccount.customerId, customerId));
  return rows.map((row) => row.id);
}
