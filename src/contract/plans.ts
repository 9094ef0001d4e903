import { z } from 'zod';

export const PLAN_TYPES = ['free', 'growth', 'enterprise'] as const;

/** Subscription tiers the Engine knows. Lower case exactly, as the original endpoint accepted them. */
export const PlanType = z.enum(PLAN_TYPES).meta({
  id: 'PlanType',
  description: 'Subscription plan type.',
});
export type PlanType = z.infer<typeof PlanType>;

/** A limit is a non-negative count; `null` means unlimited. */
export const Limit = z.int().min(0).nullable();
export type Limit = z.infer<typeof Limit>;

/** What one plan allows; the catalog holds one of these per plan. */
export const PlanLimits = z.object({
  deployments: Limit.meta({ description: 'Maximum number of deployments allowed. `null` means unlimited.' }),
  self_hosted_workers: Limit.meta({
    description: 'Maximum number of self-hosted workers allowed. `null` means unlimited.',
  }),
});
export type PlanLimits = z.infer<typeof PlanLimits>;
