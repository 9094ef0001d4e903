import type { PlanSummary, PlanUpdate, PlanView, TenantUpdate } from '../../contract/admin.js';
import type { PagePosition } from '../../contract/cursor.js';
import type { PlanType } from '../../contract/plans.js';
import type { LimitsChange } from './changes.js';
import type { TenantRecord } from './effective-limits.js';

/** A write's result: the record before and after, and which tenants' answers it changed. */
export interface Written<T> {
  before: T | undefined;
  after: T;
  change: LimitsChange;
}

/** Which tenants a listing asks for, a page at a time, in byte order of their ids (UTF-8, as PostgreSQL's "C"). */
export interface TenantListQuery {
  /** A prefix of the tenant id or of its customer's id, case-sensitive and literal. */
  prefix?: string | undefined;
  /** Only the organizations of this customer. */
  customerId?: string | undefined;
  limit: number;
  /** The last tenant id of the previous page. */
  after?: string | undefined;
}

export interface TenantPage {
  tenants: TenantRecord[];
  /** Where the next page starts (its last tenant id); `null` on the last page. */
  next: string | null;
}

/** Which audit entries a listing asks for, newest first. */
export interface AuditQuery {
  subjectId?: string | undefined;
  limit: number;
  /** The last position of the previous page. */
  after?: PagePosition | undefined;
}

/** One entry of the audit log, as written. */
export interface AuditRecord {
  id: string;
  at: Date;
  actor: string;
  action: string;
  subjectType: string;
  subjectId: string;
  /** The state before and after, as JSON objects; `null`: none. Other JSON comes as `{ value }`. */
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

export interface AuditPage {
  entries: AuditRecord[];
  next: PagePosition | null;
}

/**
 * Tenants, their customers and the plan catalog, as the domain sees them. Every write runs in one
 * transaction with its audit entry and the cross-replica notification.
 */
export interface TenantStore {
  findTenant(tenantId: string): Promise<TenantRecord | undefined>;
  listPlans(): Promise<PlanView[]>;
  /** The catalog with each plan's organization count, in one query. */
  planSummaries(): Promise<PlanSummary[]>;
  /** A page of tenants (see `TenantListQuery`). */
  listTenants(query: TenantListQuery): Promise<TenantPage>;
  /** A page of the audit log every write of tenants, plans, usage and webhooks appends to, newest first. */
  listAudit(query: AuditQuery): Promise<AuditPage>;
  /** `undefined` when the plan is not in the catalog table. */
  updatePlan(planId: PlanType, update: PlanUpdate, actor: string): Promise<Written<PlanView> | undefined>;
  /** Creates or updates the tenant and its customer; a new customer needs a plan (`plan_required`). */
  putTenant(tenantId: string, update: TenantUpdate, actor: string): Promise<Written<TenantRecord>>;
  /** `undefined` when the tenant does not exist. */
  clearOverrides(tenantId: string, actor: string): Promise<Written<TenantRecord> | undefined>;
  /** Seeds the given tenants unless a seed ran before (ever, on this database); true when it seeded. */
  seedOnce(seed: string, tenants: readonly { tenantId: string; planId: PlanType }[]): Promise<boolean>;
}
