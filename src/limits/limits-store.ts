import type { PlanLimits, PlanType } from '../contract/plans.js';
import type { UsageStore } from '../usage/usage-store.js';
import type { WebhookStore } from '../webhooks/webhook-store.js';
import type { LimitOverrides, TenantRecord } from './effective-limits.js';
import type { SoftLimitOverrides, SoftLimits } from './usage-policy.js';

export interface PlanRecord extends PlanLimits {
  id: PlanType;
  softLimits: SoftLimits;
  orbExternalPlanId: string | null;
}

/** What a PUT of a tenant may say; anything left out keeps its current value (see the README). */
export interface TenantSettings {
  planId?: PlanType | undefined;
  customerId?: string | undefined;
  /** Replaces all overrides when present: a key left out inherits the plan, `null` is unlimited. */
  overrides?: LimitOverrides | undefined;
  /** Replaces the tenant's soft-limit policy when present. */
  softLimits?: SoftLimitOverrides | undefined;
}

/** Which tenants' answers a write changed. */
export type LimitsChange = { tenants: string[] } | { all: true };

export interface Written<T> {
  before: T | undefined;
  after: T;
  change: LimitsChange;
}

/**
 * The store as the domain sees it. Every write runs in one transaction with its audit entry
 * and the cross-replica notification, and reports which tenants it changed.
 */
export interface LimitsStore extends WebhookStore, UsageStore {
  findTenant(tenantId: string): Promise<TenantRecord | undefined>;
  listPlans(): Promise<PlanRecord[]>;
  updatePlan(
    planId: PlanType,
    limits: PlanLimits & { softLimits?: SoftLimits | undefined },
    actor: string,
  ): Promise<Written<PlanRecord> | undefined>;
  /** Creates or updates the tenant and its customer; a new customer needs a plan (`plan_required`). */
  putTenant(tenantId: string, settings: TenantSettings, actor: string): Promise<Written<TenantRecord>>;
  /** `undefined` when the tenant does not exist. */
  clearOverrides(tenantId: string, actor: string): Promise<Written<TenantRecord> | undefined>;
  /** Seeds the given tenants unless a seed ran before (ever, on this database); true when it seeded. */
  seedOnce(seed: string, tenants: readonly { tenantId: string; planId: PlanType }[]): Promise<boolean>;
  /** Calls `listener` for changes committed by any replica (this one included); returns the unsubscribe. */
  subscribe(listener: (change: LimitsChange) => void): () => void;
  ping(): Promise<void>;
  /** Checked-in migrations this database lacks: a replica should not take traffic while any are. */
  pendingMigrations(): Promise<number>;
  close(): Promise<void>;
}
