import type { PlanView, TenantView } from '../../contract/admin.js';
import { effectiveLimits, type TenantRecord } from '../../limits/effective-limits.js';
import type { PlanRecord } from '../../limits/limits-store.js';

export function tenantView(record: TenantRecord): TenantView {
  return {
    tenant_id: record.tenantId,
    customer_id: record.customerId,
    plan_id: record.planId,
    overrides: record.overrides,
    soft_limits: record.softLimitOverrides,
    limits: effectiveLimits(record),
  };
}

export function planView(record: PlanRecord): PlanView {
  return {
    plan_id: record.id,
    deployments: record.deployments,
    self_hosted_workers: record.self_hosted_workers,
    soft_limits: record.softLimits,
    orb_external_plan_id: record.orbExternalPlanId,
  };
}

/** What an admin route can answer besides 200; `notFound` says what a 404 means there. */
export function adminErrorResponses(notFound: string, { withBody = false } = {}): Record<number, string> {
  const responses: Record<number, string> = {
    401: 'Unauthorized',
    404: notFound,
    422: 'Validation Error',
    503: 'Limits store unavailable',
  };
  if (withBody) responses[413] = 'Request body larger than 64 KiB';
  return responses;
}
