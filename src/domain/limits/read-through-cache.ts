import { LRUCache } from 'lru-cache';
import { TIMED_OUT, within } from '../deadline.js';

export const CACHE_EVENTS = ['hit', 'miss', 'stale', 'invalidated'] as const;
export type CacheEvent = (typeof CACHE_EVENTS)[number];

export interface ReadThroughCacheOptions<V> {
  /** Reads one key from the store; rejects when the store is unreachable. */
  load(key: string): Promise<V>;
  ttlMs: number;
  maxEntries: number;
  /**
   * How long a caller waits for the store (ms; 0 = as long as it takes). Past it the last known
   * value is answered (stale), or the read fails — the read itself goes on and fills the cache.
   */
  loadTimeoutMs?: number;
  /**
   * The oldest a value may be (ms since it was read from the store) to be served when the store
   * fails (0 = any age). A shorter `ttlMs` than this stays; a longer one is cut to it, so that no
   * answer older than this is ever served without the store having confirmed it.
   */
  staleMaxMs?: number;
  /** The clock TTLs are measured on (ms); default `performance.now`. Tests pass their own. */
  now?: (() => number) | undefined;
  onEvent?: ((event: CacheEvent) => void) | undefined;
}

export interface ReadThroughCache<V> {
  /**
   * The value, from memory while fresh; rejects only when the store fails and nothing was known,
   * or what was known is older than `staleMaxMs`.
   */
  get(key: string): Promise<V>;
  /** The value while fresh (a hit, counted as one), without a promise; `undefined` otherwise. */
  fresh(key: string): { value: V } | undefined;
  invalidate(keys: readonly string[]): void;
  invalidateAll(): void;
}

/** lru-cache can't hold `undefined` (e.g. "no such tenant"), so values travel boxed, with their age. */
interface Box<V> {
  value: V;
  /** When the store answered it, on the cache's clock. */
  readAt: number;
}

/** A read cut short by an invalidation is tried again, this many times in all, before the store is read directly. */
const MAX_ATTEMPTS = 3;

/** The store did not answer within the cache's load timeout, and nothing was known before. */
export class StoreReadTimeout extends Error {
  override readonly name = 'StoreReadTimeout';
}

/**
 * lru-cache aborts a read when its key is deleted (our invalidation), evicted or replaced, and
 * fails it — for the caller that started it and every caller that joined it — with one of these.
 */
const CACHE_ABORT_REASONS = new Set(['deleted', 'evicted', 'replaced']);
function isAbortedByCache(error: unknown): boolean {
  return error instanceof Error && CACHE_ABORT_REASONS.has(error.message);
}

/**
 * Values read from the store, kept in a bounded LRU with a TTL. Concurrent misses for one key
 * share a single store read (lru-cache's `fetch`). When the store fails, the last known value
 * is served even past its TTL (stale-if-error), and so it is when the store is too slow to
 * answer (`loadTimeoutMs`): a database outage or stall doesn't stop the Engine's deployments —
 * up to `staleMaxMs` after the value was read: past that, a plan changed during the outage
 * would be wrong for too long, and the caller is better told the store is away. An
 * invalidation aborts a read already in flight, so a write is never overwritten by an answer
 * read before it.
 */
export function createReadThroughCache<V>(options: ReadThroughCacheOptions<V>): ReadThroughCache<V> {
  const { onEvent = () => {}, loadTimeoutMs = 0, staleMaxMs = 0, now = () => performance.now() } = options;
  const bounded = <T>(read: Promise<T>) => (loadTimeoutMs > 0 ? within(read, loadTimeoutMs) : read);
  // lru-cache's ttl 0 means "never expires": the smaller of the two limits that are set.
  const ttl = Math.min(options.ttlMs || Number.POSITIVE_INFINITY, staleMaxMs || Number.POSITIVE_INFINITY);
  const cache = new LRUCache<string, Box<V>>({
    max: options.maxEntries,
    ttl: Number.isFinite(ttl) ? ttl : 0,
    // lru-cache reads its clock at most once per millisecond of real time by default; an injected
    // clock is read on every lookup, so an entry expires the moment that clock passes its TTL.
    ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {}),
    fetchMethod: async (key) => {
      const value = await options.load(key);
      return { value, readAt: now() };
    },
    // A failed read keeps the last known value in place (`lastKnown` answers it), and fails the read.
    noDeleteOnFetchRejection: true,
    // A stale entry must survive a plain `get`: it is the answer of last resort when the store fails.
    noDeleteOnStaleGet: true,
  });

  /** The store failed or was too slow: answer what was known last, even past its TTL, or fail. */
  function lastKnown(key: string, failure: unknown): V {
    const stale = cache.peek(key, { allowStale: true });
    if (!stale || (staleMaxMs > 0 && now() - stale.readAt > staleMaxMs)) throw failure;
    onEvent('stale');
    return stale.value;
  }

  /** A fresh entry, counted as a hit, without going through `fetch` and its promises. */
  function fresh(key: string): Box<V> | undefined {
    const box = cache.get(key);
    if (box) onEvent('hit');
    return box;
  }

  return {
    fresh,
    async get(key) {
      const hit = fresh(key);
      if (hit) return hit.value;
      // Not fresh: a read of the store, started here or joined in flight — a miss either way.
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        // `forceFetch`: our loads always give a box, so an empty answer can't come back.
        const fetching = cache.forceFetch(key);
        let box: Box<V> | typeof TIMED_OUT;
        try {
          box = await bounded(fetching);
        } catch (error) {
          if (isAbortedByCache(error)) continue; // invalidated mid-read: read again
          return lastKnown(key, error);
        }
        if (box === TIMED_OUT) {
          fetching.catch(() => {}); // its outcome fills the cache, or reaches a later caller
          return lastKnown(key, new StoreReadTimeout(`no answer from the store within ${loadTimeoutMs} ms`));
        }
        onEvent('miss');
        return box.value;
      }
      // Invalidated on every attempt (a burst of writes): read the store directly.
      onEvent('miss');
      const read = options.load(key);
      const value = await bounded(read);
      if (value !== TIMED_OUT) return value;
      read.catch(() => {});
      throw new StoreReadTimeout(`no answer from the store within ${loadTimeoutMs} ms`);
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
