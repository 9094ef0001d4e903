import { z } from 'zod';

export const PLAN_TYPES = ['free', 'growth', 'enterprise'] as const;

/** Subscription tiers the Engine knows. Lower case exactly, as the original endpoint accepted them. */
export const PlanType = z.enum(PLAN_TYPES).meta({
  id: 'PlanType',
  description: 'Subscription plan type.',
});
export type PlanType = z.infer<typeof PlanType>;

/**
 * The largest count the service takes — a limit, an override, an overage cap, a usage count. The
 * store keeps counts as PostgreSQL `integer`s (at most 2,147,483,647): with every count at most
 * this, any two add up within one (a limit plus its overage cap), so no query can overflow.
 */
export const MAX_COUNT = 1_000_000_000;

/** A count of deployments or workers: 0 to `MAX_COUNT`. */
export const Count = z.int().min(0).max(MAX_COUNT);

/** A limit is a count; `null` means unlimited. */
export const Limit = Count.nullable();
export type Limit = z.infer<typeof Limit>;

/** What one plan allows; the catalog holds one of these per plan. */
export const PlanLimits = z.object({
  deployments: Limit.meta({ description: 'Maximum number of deployments allowed. `null` means unlimited.' }),
  self_hosted_workers: Limit.meta({
    description: 'Maximum number of self-hosted workers allowed. `null` means unlimited.',
  }),
});
export type PlanLimits = z.infer<typeof PlanLimits>;
