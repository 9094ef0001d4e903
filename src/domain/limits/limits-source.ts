import { LRUCache } from 'lru-cache';
import type { PlanView } from '../../contract/admin.js';
import type { BillingLimits } from '../../contract/limits.js';
import type { PlanLimits, PlanType } from '../../contract/plans.js';
import { orUnavailable, tenantNotFound } from '../errors.js';
import type { StoreHealth } from '../store-health.js';
import { DEFAULT_PLAN_CATALOG, type PlanCatalog } from './catalog.js';
import type { LimitsChange } from './changes.js';
import { effectiveLimits } from './effective-limits.js';
import { type CacheEvent, createReadThroughCache } from './read-through-cache.js';
import type { TenantStore } from './tenant-store.js';

export interface LimitsQuery {
  tenantId: string;
  /** The plan the caller claims (the `x-plan-type` header); only header mode trusts it. */
  planType: PlanType;
}

/** A tenant's answer: frozen, and the same object for as long as it is cached (its bytes can be reused). */
export type LimitsAnswer = Readonly<{ tenant_id: string; limits: Readonly<BillingLimits> }>;

export const PLAN_SOURCES = ['header', 'database'] as const;
export type PlanSource = (typeof PLAN_SOURCES)[number];

/**
 * Where a tenant's limits come from. `header`: the caller's plan, looked up in the catalog (the
 * original behaviour). `database`: the tenant's plan from the store, ⊕ its overrides.
 */
export interface LimitsSource {
  readonly mode: PlanSource;
  /** A cached tenant's answer comes back as it is, without a promise (the hot path). */
  answer(query: LimitsQuery): LimitsAnswer | Promise<LimitsAnswer>;
  /** Forget what a write changed (this replica's writes and, through the store, every other's). */
  apply(change: LimitsChange): void;
}

export interface LimitsSourceOptions {
  mode: PlanSource;
  /** Without a store, header mode uses `catalog` (default: the original's limits). */
  store?: Pick<TenantStore, 'findTenant' | 'listPlans'> | undefined;
  catalog?: PlanCatalog | undefined;
  cacheTtlMs?: number | undefined;
  cacheMaxEntries?: number | undefined;
  /** How long a store read may take before a cached answer is served, stale, or 503 (0 = no limit). */
  storeTimeoutMs?: number | undefined;
  /** The oldest a cached answer may be to be served when the store fails (ms; 0 = any age). */
  staleMaxMs?: number | undefined;
  /** Told of every store read: an answer is contact, a lost connection an outage. */
  storeHealth?: Pick<StoreHealth, 'watch'> | undefined;
  /** The clock the cache's TTL runs on (ms); default `performance.now`. */
  now?: (() => number) | undefined;
  onCacheEvent?: (event: CacheEvent) => void;
}

const CATALOG_KEY = 'catalog';

function catalogFrom(plans: readonly PlanView[]): PlanCatalog {
  const catalog: Partial<Record<PlanType, PlanLimits>> = {};
  for (const plan of plans) {
    catalog[plan.plan_id] = { deployments: plan.deployments, self_hosted_workers: plan.self_hosted_workers };
  }
  // A plan missing from the table falls back to the built-in row rather than failing every request.
  return { ...DEFAULT_PLAN_CATALOG, ...catalog };
}

const answerOf = (tenantId: string, limits: BillingLimits): LimitsAnswer =>
  Object.freeze({ tenant_id: tenantId, limits: Object.freeze(limits) });

export function createLimitsSource(options: LimitsSourceOptions): LimitsSource {
  const {
    mode,
    store,
    cacheTtlMs = 300_000,
    cacheMaxEntries = 100_000,
    storeTimeoutMs = 2_000,
    staleMaxMs = 900_000,
  } = options;
  const watched = <T>(read: () => Promise<T>) =>
    options.storeHealth ? options.storeHealth.watch(read) : read();
  const cacheOptions = {
    ttlMs: cacheTtlMs,
    loadTimeoutMs: storeTimeoutMs,
    staleMaxMs,
    now: options.now,
    onEvent: options.onCacheEvent,
  };

  if (mode === 'database') {
    if (!store) throw new Error('the database plan source needs a store');
    // What the cache holds is the answer itself, built once per load: a hit allocates nothing.
    const tenants = createReadThroughCache<LimitsAnswer | undefined>({
      ...cacheOptions,
      load: async (tenantId) => {
        const record = await watched(() => store.findTenant(tenantId));
        return record && answerOf(tenantId, effectiveLimits(record));
      },
      maxEntries: cacheMaxEntries,
    });
    return {
      mode,
      // A fresh cached answer as it is (no promise); otherwise read through the cache.
      answer({ tenantId }) {
        const hit = tenants.fresh(tenantId);
        if (hit) return hit.value ?? Promise.reject(tenantNotFound());
        return orUnavailable(tenants.get(tenantId)).then(
          (answer) => answer ?? Promise.reject(tenantNotFound()),
        );
      },
      apply(change) {
        if ('all' in change) tenants.invalidateAll();
        else tenants.invalidate(change.tenants);
      },
    };
  }

  // Header mode: the caller's plan in the catalog — the store's plan table when there is a store.
  const catalogs =
    store &&
    createReadThroughCache({
      ...cacheOptions,
      load: async () => catalogFrom(await watched(() => store.listPlans())),
      maxEntries: 1,
    });
  const staticCatalog = options.catalog ?? DEFAULT_PLAN_CATALOG;
  // Answers kept per (plan, tenant) for as long as the catalog they were read from.
  const answers = new LRUCache<string, { catalog: PlanCatalog; answer: LimitsAnswer }>({
    max: cacheMaxEntries,
  });
  return {
    mode,
    async answer({ tenantId, planType }) {
      const catalog = catalogs ? await orUnavailable(catalogs.get(CATALOG_KEY)) : staticCatalog;
      // A tenant id has no control characters: a newline can't be part of one.
      const key = `${planType}\n${tenantId}`;
      const known = answers.get(key);
      if (known?.catalog === catalog) return known.answer;
      const answer = answerOf(tenantId, { ...catalog[planType], plan_type: planType });
      answers.set(key, { catalog, answer });
      return answer;
    },
    // A tenant's overrides don't reach header mode's answers; a plan change does.
    apply(change) {
      if ('all' in change) catalogs?.invalidateAll();
    },
  };
}
