import type { TenantView } from '../../contract/admin.js';
import { effectiveLimits, type TenantRecord } from '../../domain/limits/effective-limits.js';

/** A tenant as the admin API answers it: where the domain record becomes a wire body. */
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
