import type { PlanLimits, PlanType } from '../contract/plans.js';
import type { PlanCatalog } from './catalog.js';

export interface EffectiveLimits extends PlanLimits {
  plan_type: PlanType;
}

export interface LimitsQuery {
  tenantId: string;
  /** The plan the caller claims (the `x-plan-type` header); only header mode trusts it. */
  planType: PlanType;
}

/**
 * Where a tenant's limits come from. `header` mode trusts the caller's plan, as the original did;
 * a database-backed source (plan ⊕ tenant overrides) plugs in behind the same interface.
 */
export interface LimitsSource {
  readonly mode: 'header';
  effectiveLimits(query: LimitsQuery): Promise<EffectiveLimits>;
}

export function headerLimitsSource(catalog: PlanCatalog): LimitsSource {
  return {
    mode: 'header',
    async effectiveLimits({ planType }) {
      const plan = catalog[planType];
      return {
        deployments: plan.deployments,
        self_hosted_workers: plan.self_hosted_workers,
        plan_type: planType,
      };
    },
  };
}
