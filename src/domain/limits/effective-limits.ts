import type { LimitOverrides, PlanSoftLimits, TenantSoftLimits } from '../../contract/admin.js';
import type { BillingLimits } from '../../contract/limits.js';
import type { Limit, PlanLimits, PlanType } from '../../contract/plans.js';
import type { Resource } from '../../contract/usage.js';
import { type ResourcePolicy, softPolicy } from './usage-policy.js';

/** What the store knows about one tenant: its billing account, that account's plan, its overrides. */
export interface TenantRecord {
  tenantId: string;
  customerId: string;
  planId: PlanType;
  plan: PlanLimits;
  /** Key absent = inherit the plan, a number = exactly that, `null` = unlimited. */
  overrides: LimitOverrides;
  /** The plan's soft limits, and the tenant's own policy over them (see `usage-policy.ts`). */
  planSoftLimits: PlanSoftLimits;
  softLimitOverrides: TenantSoftLimits;
}

function resolve(planLimit: Limit, override: Limit | undefined): Limit {
  return override === undefined ? planLimit : override;
}

/** Effective limits = the plan's catalog row ⊕ the tenant's overrides. */
export function effectiveLimits({ planId, plan, overrides }: TenantRecord): BillingLimits {
  return {
    deployments: resolve(plan.deployments, overrides.deployments),
    self_hosted_workers: resolve(plan.self_hosted_workers, overrides.self_hosted_workers),
    plan_type: planId,
  };
}

/** How a tenant may use one resource: its effective limit, and whether that limit is soft. */
export function resourcePolicy(record: TenantRecord, resource: Resource): ResourcePolicy {
  return {
    limit: effectiveLimits(record)[resource],
    soft: softPolicy(record.planSoftLimits, record.softLimitOverrides, resource),
  };
}
