import type { PlanUpdate, PlanView, TenantUpdate } from '../../contract/admin.js';
import type { PlanType } from '../../contract/plans.js';
import type { LimitsChange } from './changes.js';
import type { TenantRecord } from './effective-limits.js';

/** A write's result: the record before and after, and which tenants' answers it changed. */
export interface Written<T> {
  before: T | undefined;
  after: T;
  change: LimitsChange;
}

/**
 * Tenants, their customers and the plan catalog, as the domain sees them. Every write runs in one
 * transaction with its audit entry and the cross-replica notification.
 */
export interface TenantStore {
  findTenant(tenantId: string): Promise<TenantRecord | undefined>;
  listPlans(): Promise<PlanView[]>;
  /** `undefined` when the plan is not in the catalog table. */
  updatePlan(planId: PlanType, update: PlanUpdate, actor: string): Promise<Written<PlanView> | undefined>;
  /** Creates or updates the tenant and its customer; a new customer needs a plan (`plan_required`). */
  putTenant(tenantId: string, update: TenantUpdate, actor: string): Promise<Written<TenantRecord>>;
  /** `undefined` when the tenant does not exist. */
  clearOverrides(tenantId: string, actor: string): Promise<Written<TenantRecord> | undefined>;
  /** Seeds the given tenants unless a seed ran before (ever, on this database); true when it seeded. */
  seedOnce(seed: string, tenants: readonly { tenantId: string; planId: PlanType }[]): Promise<boolean>;
}
