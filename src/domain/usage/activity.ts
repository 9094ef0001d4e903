import type { Resource } from '../../contract/usage.js';
import { orUnavailable } from '../errors.js';
import type {
  ActivityKind,
  ActivityStore,
  HourlyActivity,
  RefusalTotal,
  TenantActivity,
} from './activity-store.js';

const HOUR_MS = 3_600_000;

/** How often a replica adds what it counted to the store (ms): what a crash loses at most. */
export const ACTIVITY_FLUSH_MS = 5_000;
/** How long the hourly rollup is kept (days): the console reads 30 at most. */
export const ACTIVITY_RETENTION_DAYS = 35;
/**
 * Tenant × resource × hours held in memory at most. A flush empties the map; only a store down
 * for long (flushes failing, the counts kept for the next) fills it: new keys are then dropped
 * (`onDropped`) rather than the process's memory growing without end.
 */
const MAX_PENDING = 50_000;

/** The start of the UTC hour `at` (ms since the epoch) is in. */
export const hourOf = (at: number): number => Math.floor(at / HOUR_MS) * HOUR_MS;

/** The hours read: from the start of the first to the end of the current one. */
export interface ActivityWindow {
  from: Date;
  to: Date;
}

/**
 * Grants, releases, refusals and expiries per tenant × resource × UTC hour. Counted in memory
 * (recording is synchronous and never touches the store: a refusal costs no round trip) and
 * added to the store by `flush` — every few seconds, when the store closes, and before each read
 * (a replica reads its own activity at once; other replicas' shows after their next flush).
 */
export interface ActivityRollup {
  /** Counts one event in the hour it happened in (the rollup's clock). */
  record(tenantId: string, resource: Resource, kind: ActivityKind): void;
  /**
   * Adds what was counted to the store and forgets it; one flush at a time (a second waits for
   * the first). When the store fails, the counts stay for the next flush and the failure is thrown.
   */
  flush(): Promise<void>;
  /** The last `hours` hours (the current one included) with activity, per resource; oldest first. */
  hourly(query: {
    hours: number;
    tenantId?: string | undefined;
  }): Promise<ActivityWindow & { buckets: HourlyActivity[] }>;
  /** Tenant × resources refused in the last `hours` hours: most refusals first, then the latest. */
  refusals(query: { hours: number; limit: number }): Promise<ActivityWindow & { refusals: RefusalTotal[] }>;
  /** Deletes the rows past retention, a batch at a time; the number deleted. */
  prune(): Promise<number>;
  /** Tenant × resource × hours counted and not yet flushed. */
  readonly pending: number;
}

export interface ActivityRollupOptions {
  store: ActivityStore;
  /** Milliseconds since the epoch (the app's clock). */
  now: () => number;
  /** Called for each event not counted because `MAX_PENDING` keys wait already. */
  onDropped?(): void;
  /** Overrides `MAX_PENDING` (tests). */
  maxPending?: number | undefined;
}

/** Rows deleted per statement when pruning. */
const PRUNE_BATCH = 1_000;

const keyOf = (tenantId: string, resource: Resource, hour: number) =>
  // Tenant ids have no control characters: NUL cannot occur in one.
  `${hour}\u0000${resource}\u0000${tenantId}`;

export function createActivityRollup({
  store,
  now,
  onDropped,
  maxPending = MAX_PENDING,
}: ActivityRollupOptions): ActivityRollup {
  let pending = new Map<string, TenantActivity>();
  // Flushes run one after another, so a read's flush also waits for one already under way.
  let lastFlush: Promise<void> = Promise.resolve();

  function entryFor(tenantId: string, resource: Resource, hour: number): TenantActivity | undefined {
    const key = keyOf(tenantId, resource, hour);
    let entry = pending.get(key);
    if (!entry) {
      if (pending.size >= maxPending) return undefined;
      entry = { tenantId, resource, hour: new Date(hour), grants: 0, releases: 0, refusals: 0, expiries: 0 };
      pending.set(key, entry);
    }
    return entry;
  }

  /** Counts that failed to reach the store, back into the map (added to any counted since). */
  function restore(entries: Iterable<TenantActivity>) {
    for (const entry of entries) {
      const key = keyOf(entry.tenantId, entry.resource, entry.hour.getTime());
      const current = pending.get(key);
      if (!current) {
        pending.set(key, entry);
        continue;
      }
      current.grants += entry.grants;
      current.releases += entry.releases;
      current.refusals += entry.refusals;
      current.expiries += entry.expiries;
    }
  }

  async function flushOnce(): Promise<void> {
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    try {
      await store.add([...batch.values()]);
    } catch (error) {
      restore(batch.values());
      throw error;
    }
  }

  function flush(): Promise<void> {
    const run = lastFlush.then(flushOnce);
    lastFlush = run.catch(() => undefined);
    return run;
  }

  function windowOf(hours: number): ActivityWindow {
    const to = hourOf(now()) + HOUR_MS;
    return { from: new Date(to - hours * HOUR_MS), to: new Date(to) };
  }

  return {
    record(tenantId, resource, kind) {
      const entry = entryFor(tenantId, resource, hourOf(now()));
      if (entry) entry[kind] += 1;
      else onDropped?.();
    },
    flush,
    async hourly({ hours, tenantId }) {
      await orUnavailable(flush());
      const window = windowOf(hours);
      const buckets = await orUnavailable(store.hourly({ ...window, tenantId }));
      return { ...window, buckets };
    },
    async refusals({ hours, limit }) {
      await orUnavailable(flush());
      const window = windowOf(hours);
      const refusals = await orUnavailable(store.refusals({ ...window, limit }));
      return { ...window, refusals };
    },
    async prune() {
      const before = new Date(hourOf(now()) - ACTIVITY_RETENTION_DAYS * 24 * HOUR_MS);
      let deleted = 0;
      for (;;) {
        const batch = await store.prune(before, PRUNE_BATCH);
        deleted += batch;
        if (batch < PRUNE_BATCH) return deleted;
      }
    },
    get pending() {
      return pending.size;
    },
  };
}
