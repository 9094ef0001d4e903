import { LRUCache } from 'lru-cache';

export type CacheEvent = 'hit' | 'miss' | 'stale' | 'invalidated';

export interface ReadThroughCacheOptions<V> {
  /** Reads one key from the store; rejects when the store is unreachable. */
  load(key: string): Promise<V>;
  ttlMs: number;
  maxEntries: number;
  onEvent?(event: CacheEvent): void;
}

export interface ReadThroughCache<V> {
  /** The value, from memory while fresh; rejects only when the store fails and nothing was ever known. */
  get(key: string): Promise<V>;
  invalidate(keys: readonly string[]): void;
  invalidateAll(): void;
}

/** lru-cache can't hold `undefined` (e.g. "no such tenant"), so values travel boxed. */
interface Box<V> {
  value: V;
}

/** A read cut short by an invalidation resolves empty; asking again starts a fresh read. */
const MAX_ATTEMPTS = 3;

/**
 * Values read from the store, kept in a bounded LRU with a TTL. Concurrent misses for one key
 * share a single store read (lru-cache's `fetch`). When the store fails, the last known value
 * is served even past its TTL (stale-if-error), so a database outage doesn't stop the Engine's
 * deployments. An invalidation aborts a read already in flight, so a write is never
 * overwritten by an answer read before it.
 */
export function createReadThroughCache<V>(options: ReadThroughCacheOptions<V>): ReadThroughCache<V> {
  const { onEvent = () => {} } = options;
  const cache = new LRUCache<string, Box<V>>({
    max: options.maxEntries,
    ttl: options.ttlMs,
    fetchMethod: async (key) => ({ value: await options.load(key) }),
    allowStaleOnFetchRejection: true,
    noDeleteOnFetchRejection: true,
    // A stale entry must survive a plain `get`: it is the answer of last resort when the store fails.
    noDeleteOnStaleGet: true,
  });

  return {
    async get(key) {
      // The hot path: a fresh entry, without going through `fetch` and its promises.
      const fresh = cache.get(key);
      if (fresh) {
        onEvent('hit');
        return fresh.value;
      }
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const status: LRUCache.Status<string, Box<V>> = {};
        const box = await cache.fetch(key, { status });
        if (!box) continue;
        if (status.returnedStale) onEvent('stale');
        else onEvent(status.fetch === 'hit' ? 'hit' : 'miss');
        return box.value;
      }
      // Invalidated on every attempt (a burst of writes): read the store directly.
      onEvent('miss');
      return options.load(key);
    },
    invalidate(keys) {
      for (const key of keys) {
        if (cache.delete(key)) onEvent('invalidated');
      }
    },
    invalidateAll() {
      if (cache.size > 0) onEvent('invalidated');
      cache.clear();
    },
  };
}
