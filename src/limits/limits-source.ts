import type { PlanLimits, PlanType } from '../contract/plans.js';
import { DEFAULT_PLAN_CATALOG, type PlanCatalog } from './catalog.js';
import { effectiveLimits, type TenantRecord } from './effective-limits.js';
import { orUnavailable, tenantNotFound } from './errors.js';
import type { LimitsChange, LimitsStore } from './limits-store.js';
import { type CacheEvent, createReadThroughCache } from './read-through-cache.js';

export interface EffectiveLimits extends PlanLimits {
  plan_type: PlanType;
}

export interface LimitsQuery {
  tenantId: string;
  /** The plan the caller claims (the `x-plan-type` header); only header mode trusts it. */
  planType: PlanType;
}

export type PlanSource = 'header' | 'database';

/**
 * Where a tenant's limits come from. `header`: the caller's plan, looked up in the catalog (the
 * original behaviour). `database`: the tenant's plan from the store, ⊕ its overrides.
 */
export interface LimitsSource {
  readonly mode: PlanSource;
  effectiveLimits(query: LimitsQuery): Promise<EffectiveLimits>;
  /** Forget what a write changed (this replica's writes and, through the store, every other's). */
  apply(change: LimitsChange): void;
}

export interface LimitsSourceOptions {
  mode: PlanSource;
  /** Without a store, header mode uses `catalog` (default: the original's limits). */
  store?: LimitsStore | undefined;
  catalog?: PlanCatalog | undefined;
  cacheTtlMs?: number;
  cacheMaxEntries?: number;
  /** How long a store read may take before a cached answer is served, stale, or 503 (0 = no limit). */
  storeTimeoutMs?: number;
  onCacheEvent?: (event: CacheEvent) => void;
}

const CATALOG_KEY = 'catalog';

function catalogFrom(plans: Awaited<ReturnType<LimitsStore['listPlans']>>): PlanCatalog {
  const catalog: Partial<Record<PlanType, PlanLimits>> = {};
  for (const plan of plans) {
    catalog[plan.id] = { deployments: plan.deployments, self_hosted_workers: plan.self_hosted_workers };
  }
  // A plan missing from the table falls back to the built-in row rather than failing every request.
  return { ...DEFAULT_PLAN_CATALOG, ...catalog };
}

export function createLimitsSource(options: LimitsSourceOptions): LimitsSource {
  const {
    mode,
    store,
    cacheTtlMs = 300_000,
    cacheMaxEntries = 100_000,
    storeTimeoutMs = 2_000,
    onCacheEvent,
  } = options;
  if (mode === 'database' && !store) throw new Error('the database plan source needs a store');

  const staticCatalog = options.catalog ?? DEFAULT_PLAN_CATALOG;
  const catalogCache =
    store &&
    createReadThroughCache({
      load: async () => catalogFrom(await store.listPlans()),
      ttlMs: cacheTtlMs,
      maxEntries: 1,
      loadTimeoutMs: storeTimeoutMs,
      ...(onCacheEvent ? { onEvent: onCacheEvent } : {}),
    });
  const tenantCache =
    store &&
    createReadThroughCache<TenantRecord | undefined>({
      load: (tenantId) => store.findTenant(tenantId),
      ttlMs: cacheTtlMs,
      maxEntries: cacheMaxEntries,
      loadTimeoutMs: storeTimeoutMs,
      ...(onCacheEvent ? { onEvent: onCacheEvent } : {}),
    });

  return {
    mode,
    async effectiveLimits({ tenantId, planType }) {
      if (mode === 'header' || !tenantCache) {
        const catalog = catalogCache ? await orUnavailable(catalogCache.get(CATALOG_KEY)) : staticCatalog;
        return { ...catalog[planType], plan_type: planType };
      }
      const record = await orUnavailable(tenantCache.get(tenantId));
      if (!record) throw tenantNotFound();
      return effectiveLimits(record);
    },
    apply(change) {
      if ('all' in change) {
        catalogCache?.invalidateAll();
        tenantCache?.invalidateAll();
      } else {
        tenantCache?.invalidate(change.tenants);
      }
    },
  };
}
