import type { PlanLimits, PlanType } from '../../contract/plans.js';

/** What each plan allows. The one place plan limits are written down; `null` = unlimited. */
export type PlanCatalog = Readonly<Record<PlanType, Readonly<PlanLimits>>>;

/** The original endpoint's limits. The growth plan's 5 deployments are expected to change. */
export const DEFAULT_PLAN_CATALOG: PlanCatalog = Object.freeze({
  free: Object.freeze({ deployments: 1, self_hosted_workers: 5 }),
  growth: Object.freeze({ deployments: 5, self_hosted_workers: null }),
  enterprise: Object.freeze({ deployments: null, self_hosted_workers: null }),
});
