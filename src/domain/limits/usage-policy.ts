import type { PlanSoftLimits, SoftLimit, TenantSoftLimits } from '../../contract/admin.js';
import type { Limit } from '../../contract/plans.js';
import type { Resource } from '../../contract/usage.js';

/** How a tenant may use one resource: its effective limit, and whether that limit is soft. */
export interface ResourcePolicy {
  limit: Limit;
  soft: SoftLimit | null;
}

/** The most a tenant may hold of a resource: the limit, plus the overage cap when soft; `null` = no ceiling. */
export function ceilingOf({ limit, soft }: ResourcePolicy): number | null {
  if (limit === null) return null;
  if (!soft) return limit;
  return soft.overage_cap === null ? null : limit + soft.overage_cap;
}

/** A tenant's own policy wins (`null` = hard); left out, the plan's (a resource the plan doesn't list is hard). */
export function softPolicy(
  plan: PlanSoftLimits,
  tenant: TenantSoftLimits,
  resource: Resource,
): SoftLimit | null {
  const own = tenant[resource];
  return own === undefined ? (plan[resource] ?? null) : own;
}

/** What is left under a limit: never negative (after a downgrade it is 0), `null` when unlimited. */
export function remainingOf(limit: number | null, used: number): number | null {
  return limit === null ? null : Math.max(0, limit - used);
}
