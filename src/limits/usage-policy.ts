import type { Limit } from '../contract/plans.js';

export const RESOURCES = ['deployments', 'self_hosted_workers'] as const;
export type Resource = (typeof RESOURCES)[number];

/** A soft limit may be exceeded, up to `overage_cap` units past it (`null`: no cap); the excess is billed. */
export interface SoftLimit {
  overage_cap: number | null;
}

/** A plan's soft limits by resource; a resource not listed is hard. */
export type SoftLimits = Partial<Record<Resource, SoftLimit>>;
/** A tenant's own policy by resource: absent = the plan's, `null` = hard, an object = soft. */
export type SoftLimitOverrides = Partial<Record<Resource, SoftLimit | null>>;

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

export function softPolicy(
  plan: SoftLimits,
  tenant: SoftLimitOverrides,
  resource: Resource,
): SoftLimit | null {
  const own = tenant[resource];
  return own === undefined ? (plan[resource] ?? null) : own;
}

/** What is left under a limit: never negative (after a downgrade it is 0), `null` when unlimited. */
export function remainingOf(limit: number | null, used: number): number | null {
  return limit === null ? null : Math.max(0, limit - used);
}
