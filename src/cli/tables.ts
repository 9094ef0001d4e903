import type { PlanView, SoftLimit, TenantView } from '../contract/admin.js';
import { Resource } from '../contract/usage.js';

/** Columns padded to their widest cell; the last column is not padded (no trailing blanks). */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join('  '),
    )
    .join('\n');
}

const limitText = (limit: number | null) => (limit === null ? 'unlimited' : String(limit));

function softText(soft: SoftLimit | null | undefined, inherited: string): string {
  if (soft === undefined) return inherited;
  if (soft === null) return 'hard';
  return soft.overage_cap === null ? 'soft, no overage cap' : `soft, overage cap ${soft.overage_cap}`;
}

export function plansTable(plans: readonly PlanView[]): string {
  return table([
    ['PLAN', ...Resource.options.map((resource) => resource.toUpperCase()), 'SOFT LIMITS', 'ORB PLAN ID'],
    ...plans.map((plan) => [
      plan.plan_id,
      ...Resource.options.map((resource) => limitText(plan[resource])),
      Resource.options
        .filter((resource) => plan.soft_limits[resource])
        .map((resource) => `${resource} (${softText(plan.soft_limits[resource], '')})`)
        .join(', ') || '-',
      plan.orb_external_plan_id ?? '-',
    ]),
  ]);
}

export function tenantTable(tenant: TenantView): string {
  const heading = table([
    ['tenant', tenant.tenant_id],
    ['customer', tenant.customer_id],
    ['plan', tenant.plan_id],
  ]);
  const resources = table([
    ['RESOURCE', 'LIMIT', 'SET BY', 'SOFT LIMIT'],
    ...Resource.options.map((resource) => [
      resource,
      limitText(tenant.limits[resource]),
      resource in tenant.overrides ? 'override' : 'plan',
      softText(tenant.soft_limits[resource], "plan's"),
    ]),
  ]);
  return `${heading}\n\n${resources}`;
}
