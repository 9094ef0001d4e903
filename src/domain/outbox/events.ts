import type { EventType, LimitsChangeCause, LimitsChangedData } from '../../contract/outbound-webhooks.js';
import { effectiveLimits, type TenantRecord } from '../limits/effective-limits.js';

/**
 * An event as the writer's transaction records it in the outbox: its `sequence` (and id, and time)
 * are the database's, added when it is written.
 */
export interface OutboxEvent {
  type: EventType;
  tenantId: string | null;
  data: Record<string, unknown>;
}

const sameLimits = (a: TenantRecord, b: TenantRecord) => {
  const [x, y] = [effectiveLimits(a), effectiveLimits(b)];
  return (
    x.deployments === y.deployments &&
    x.self_hosted_workers === y.self_hosted_workers &&
    x.plan_type === y.plan_type
  );
};

/**
 * One `limits.changed` per tenant whose effective limits differ between `before` and `after` (the
 * same tenants, read in one transaction around a write), with `before: null` for a tenant the
 * write created; none for a tenant whose limits stayed the same. In tenant id order.
 */
export function limitsChangedEvents(
  before: readonly TenantRecord[],
  after: readonly TenantRecord[],
  cause: LimitsChangeCause,
): OutboxEvent[] {
  const previous = new Map(before.map((record) => [record.tenantId, record]));
  // Tenant ids are unique here: no two compare equal.
  return [...after]
    .sort((a, b) => (a.tenantId < b.tenantId ? -1 : 1))
    .flatMap((record): OutboxEvent[] => {
      const was = previous.get(record.tenantId);
      if (was && sameLimits(was, record)) return [];
      const data: Omit<LimitsChangedData, 'sequence'> = {
        tenant_id: record.tenantId,
        customer_id: record.customerId,
        before: was ? effectiveLimits(was) : null,
        after: effectiveLimits(record),
        cause,
      };
      return [{ type: 'limits.changed', tenantId: record.tenantId, data }];
    });
}
