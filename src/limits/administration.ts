import type { PlanLimits, PlanType } from '../contract/plans.js';
import type { WebhookEventRecord } from '../webhooks/webhook-store.js';
import type { TenantRecord } from './effective-limits.js';
import { orUnavailable, tenantNotFound } from './errors.js';
import type { LimitsChange, LimitsStore, PlanRecord, TenantSettings } from './limits-store.js';
import type { SoftLimits } from './usage-policy.js';

/**
 * Changing plans and tenants: the admin API and the admin CLI both go through here. Each write
 * is one store transaction (with its audit entry); this replica's cache forgets what changed
 * right away, other replicas through the store's notification.
 */
export interface Administration {
  showTenant(tenantId: string): Promise<TenantRecord>;
  putTenant(tenantId: string, settings: TenantSettings, actor: string): Promise<TenantRecord>;
  clearOverrides(tenantId: string, actor: string): Promise<TenantRecord>;
  setPlan(
    planId: PlanType,
    limits: PlanLimits & { softLimits?: SoftLimits | undefined },
    actor: string,
  ): Promise<PlanRecord>;
  listPlans(): Promise<PlanRecord[]>;
  listWebhookEvents(filter: {
    customerId?: string | undefined;
    limit: number;
  }): Promise<WebhookEventRecord[]>;
}

export function createAdministration(
  store: LimitsStore,
  apply: (change: LimitsChange) => void,
): Administration {
  return {
    async showTenant(tenantId) {
      const record = await orUnavailable(store.findTenant(tenantId));
      if (!record) throw tenantNotFound();
      return record;
    },
    async putTenant(tenantId, settings, actor) {
      const { after, change } = await orUnavailable(store.putTenant(tenantId, settings, actor));
      apply(change);
      return after;
    },
    async clearOverrides(tenantId, actor) {
      const written = await orUnavailable(store.clearOverrides(tenantId, actor));
      if (!written) throw tenantNotFound();
      apply(written.change);
      return written.after;
    },
    async setPlan(planId, limits, actor) {
      const written = await orUnavailable(store.updatePlan(planId, limits, actor));
      // Plans are seeded by migration; a missing row means the catalog table was tampered with.
      if (!written) throw new Error(`plan ${planId} is missing from the catalog table`);
      apply(written.change);
      return written.after;
    },
    listPlans: () => orUnavailable(store.listPlans()),
    listWebhookEvents: (filter) => orUnavailable(store.listWebhookEvents(filter)),
  };
}
