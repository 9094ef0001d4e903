import type { PlanView } from '../../contract/admin.js';
import type { CheckReason, CheckRequest, CheckResponse, CheckResult } from '../../contract/entitlements.js';
import { PLAN_TYPES, type PlanType } from '../../contract/plans.js';
import type { Resource } from '../../contract/usage.js';
import { resourcePolicy, type TenantRecord } from '../limits/effective-limits.js';
import { ceilingOf, type ResourcePolicy, remainingOf } from '../limits/usage-policy.js';
import type { UsageCounts } from './usage-store.js';

/** Whether `quantity` more fits the policy, and why — as `billing_reserve` would decide it now. */
function reasonOf(policy: ResourcePolicy, used: number, quantity: number): CheckReason {
  if (policy.limit === null) return 'unlimited';
  const wanted = used + quantity;
  if (wanted <= policy.limit) return 'within_limit';
  if (!policy.soft) return 'limit_exceeded';
  const ceiling = ceilingOf(policy);
  return ceiling === null || wanted <= ceiling ? 'soft_limit_overage' : 'overage_cap_exceeded';
}

const ALLOWED: ReadonlySet<CheckReason> = new Set(['unlimited', 'within_limit', 'soft_limit_overage']);

/**
 * The first plan above `planId` (free < growth < enterprise) whose catalog limit for `resource`
 * holds `used + quantity` within it (no overage): what to sell when a check is refused.
 */
function upgradeOf(
  catalog: readonly PlanView[],
  planId: PlanType,
  resource: Resource,
  wanted: number,
): CheckResult['upgrade'] {
  for (const candidate of PLAN_TYPES.slice(PLAN_TYPES.indexOf(planId) + 1)) {
    const plan = catalog.find((row) => row.plan_id === candidate);
    if (!plan) continue;
    const limit = plan[resource];
    if (limit === null || wanted <= limit) return { plan_type: candidate, limit };
  }
  return null;
}

/**
 * Each check judged on its own against current usage, in request order. Nothing is reserved: a
 * grant right after may still be refused if usage moves in between.
 */
export function preflight(
  record: TenantRecord,
  used: UsageCounts,
  catalog: readonly PlanView[],
  { checks }: CheckRequest,
): CheckResponse {
  return {
    tenant_id: record.tenantId,
    plan_type: record.planId,
    results: checks.map(({ resource, quantity }) => {
      const policy = resourcePolicy(record, resource);
      const count = used[resource];
      const reason = reasonOf(policy, count, quantity);
      const allowed = ALLOWED.has(reason);
      return {
        resource,
        quantity,
        allowed,
        used: count,
        limit: policy.limit,
        remaining: remainingOf(policy.limit, count),
        would_exceed_by: policy.limit === null ? 0 : Math.max(0, count + quantity - policy.limit),
        reason,
        upgrade: allowed ? null : upgradeOf(catalog, record.planId, resource, count + quantity),
      };
    }),
  };
}
