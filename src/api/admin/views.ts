import type { TenantSummary, TenantView } from '../../contract/admin.js';
import type { AuditEntry } from '../../contract/audit.js';
import { effectiveLimits, type TenantRecord } from '../../domain/limits/effective-limits.js';
import type { AuditRecord } from '../../domain/limits/tenant-store.js';

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

/** A tenant as a listing answers it. */
export function tenantSummary(record: TenantRecord): TenantSummary {
  return {
    tenant_id: record.tenantId,
    customer_id: record.customerId,
    plan_id: record.planId,
    overrides: record.overrides,
    limits: effectiveLimits(record),
  };
}

/** An audit entry as the admin API answers it; its states are objects or null (see `listAudit`). */
export function auditEntryView(entry: AuditRecord): AuditEntry {
  return {
    id: entry.id,
    at: entry.at.toISOString(),
    actor: entry.actor,
    action: entry.action,
    subject_type: entry.subjectType,
    subject_id: entry.subjectId,
    before: entry.before,
    after: entry.after,
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
