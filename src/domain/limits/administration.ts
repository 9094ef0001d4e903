import type { PlanSummary, PlanUpdate, PlanView, TenantUpdate } from '../../contract/admin.js';
import type { PlanType } from '../../contract/plans.js';
import { orUnavailable, tenantNotFound } from '../errors.js';
import type { LimitsChange } from './changes.js';
import type { TenantRecord } from './effective-limits.js';
import type { AuditPage, AuditQuery, TenantListQuery, TenantPage, TenantStore } from './tenant-store.js';

/**
 * Changing plans and tenants: the admin API and the admin CLI both go through here. Each write
 * is one store transaction (with its audit entry); this replica's cache forgets what changed
 * right away, other replicas through the store's notification.
 */
export interface Administration {
  showTenant(tenantId: string): Promise<TenantRecord>;
  putTenant(tenantId: string, update: TenantUpdate, actor: string): Promise<TenantRecord>;
  clearOverrides(tenantId: string, actor: string): Promise<TenantRecord>;
  setPlan(planId: PlanType, update: PlanUpdate, actor: string): Promise<PlanView>;
  listPlans(): Promise<PlanView[]>;
  /** The catalog with each plan's organization count. */
  planSummaries(): Promise<PlanSummary[]>;
  /** A page of tenants, by id or customer id prefix, or of one customer. */
  listTenants(query: TenantListQuery): Promise<TenantPage>;
  /** A page of the audit log, newest first. */
  auditLog(query: AuditQuery): Promise<AuditPage>;
}

export function createAdministration(
  store: TenantStore,
  apply: (change: LimitsChange) => void,
): Administration {
  return {
    async showTenant(tenantId) {
      const record = await orUnavailable(store.findTenant(tenantId));
      if (!record) throw tenantNotFound();
      return record;
    },
    async putTenant(tenantId, update, actor) {
      const { after, change } = await orUnavailable(store.putTenant(tenantId, update, actor));
      apply(change);
      return after;
    },
    async clearOverrides(tenantId, actor) {
      const written = await orUnavailable(store.clearOverrides(tenantId, actor));
      if (!written) throw tenantNotFound();
      apply(written.change);
      return written.after;
    },
    async setPlan(planId, update, actor) {
      const written = await orUnavailable(store.updatePlan(planId, update, actor));
      // Plans are seeded by migration; a missing row means the catalog table was tampered with.
      if (!written) throw new Error(`plan ${planId} is missing from the catalog table`);
      apply(written.change);
      return written.after;
    },
    listPlans: () => orUnavailable(store.listPlans()),
    planSummaries: () => orUnavailable(store.planSummaries()),
    listTenants: (query) => orUnavailable(store.listTenants(query)),
    auditLog: (query) => orUnavailable(store.listAudit(query)),
  };
}
