import { type AnyColumn, and, eq, gt, inArray, type SQL, sql } from 'drizzle-orm';
import type { LimitOverrides, PlanView } from '../contract/admin.js';
import type { PagePosition } from '../contract/cursor.js';
import { PlanType } from '../contract/plans.js';
import type { Resource } from '../contract/usage.js';
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
    idType: 'uuid' | 'text' | 'bigint',
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

/**
 * A text column compared byte by byte (UTF-8, PostgreSQL's "C" collation): the order listings page
 * in, whatever the database's collation, and the one the `*_c_idx` indexes (drizzle/0012) hold.
 */
export const inByteOrder = (column: AnyColumn): SQL => sql`${column} collate "C"`;

const MAX_CODE_POINT = 0x10ffff;

/**
 * The least string after every string that starts with `prefix`, in code-point order (UTF-8's byte
 * order): the prefix with its last code point incremented, those at U+10FFFF dropped first.
 * `undefined` when there is none (a prefix of U+10FFFF only): nothing sorts after it.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const points = Array.from(prefix, (char) => char.codePointAt(0) ?? 0);
  while (points.length > 0) {
    const last = points.pop() ?? MAX_CODE_POINT;
    if (last < MAX_CODE_POINT) {
      // Surrogates are no characters PostgreSQL stores: the next one is U+E000.
      points.push(last + 1 === 0xd800 ? 0xe000 : last + 1);
      return String.fromCodePoint(...points);
    }
  }
  return undefined;
}

/**
 * `column` starts with `prefix`, literally (`%`, `_` and `\` are plain characters), as a range in
 * byte order: an index on `column collate "C"` serves it.
 */
export function startsWith(column: AnyColumn, prefix: string): SQL {
  const upper = prefixUpperBound(prefix);
  const from = sql`${inByteOrder(column)} >= ${prefix}`;
  return upper === undefined ? from : sql`${from} and ${inByteOrder(column)} < ${upper}`;
}

/** Tenant ids after `after`, in byte order, if any. */
export const tenantIdAfter = (after: string | undefined): SQL | undefined =>
  after === undefined ? undefined : gt(inByteOrder(organizationToAccount.organizationId), after);

/** The first `limit` tenants matching `where`, in byte order of their ids: a page of a listing. */
export async function readTenantsInOrder(
  db: Executor,
  where: SQL | undefined,
  limit: number,
): Promise<TenantRecord[]> {
  const rows = await tenantsQuery(db)
    .where(and(where))
    .orderBy(inByteOrder(organizationToAccount.organizationId))
    .limit(limit);
  return rows.map(tenantRecordOf);
}

/** Where each resource's limit lives: the plan's column, and the tenant's two override columns. */
const LIMIT_COLUMNS = {
  deployments: {
    plan: plan.deployments,
    allowance: organizationToAccount.deploymentAllowance,
    unlimited: organizationToAccount.deploymentUnlimited,
  },
  self_hosted_workers: {
    plan: plan.selfHostedWorkers,
    allowance: organizationToAccount.workerAllowance,
    unlimited: organizationToAccount.workerUnlimited,
  },
} satisfies Record<Resource, Record<string, AnyColumn>>;

/**
 * A tenant's effective limit of the resource named by `resource`, in SQL, as `effectiveLimits`
 * computes it (and `billing_reserve`, drizzle/0006): an unlimited override, NULL; else the
 * override; else the plan's (NULL: unlimited). Over `organization_to_account` joined to its
 * customer's `plan`; NULL for a resource it does not know.
 */
export function effectiveLimitOf(resource: AnyColumn): SQL<number | null> {
  const cases = Object.entries(LIMIT_COLUMNS).map(
    ([name, columns]) =>
      sql`when ${name} then case when ${columns.unlimited} then null else coalesce(${columns.allowance}, ${columns.plan}) end`,
  );
  return sql<number | null>`case ${resource} ${sql.join(cases, sql` `)} end`;
}
