import { describe, expect, it } from 'vitest';
import {
  type CacheEvent,
  createReadThroughCache,
  StoreReadTimeout,
} from '../../../src/domain/limits/read-through-cache.js';
import { testClock } from '../../support/harness.js';

function deferred<T>() {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Tests move this clock; the cache's TTLs run on it, never on the time the test takes. */
const clockAt = (ms = 1_000_000) => testClock(ms);

/** A store at version 1 whose first read waits for `slowFirstRead`; `write()` moves it to version 2. */
function versionedStore(onEvent?: (event: CacheEvent) => void) {
  let version = 1;
  const slowFirstRead = deferred<void>();
  const cache = createReadThroughCache({
    load: async () => {
      const seen = version;
      if (seen === 1) await slowFirstRead.promise;
      return seen;
    },
    ttlMs: 60_000,
    maxEntries: 10,
    now: clockAt().now,
    ...(onEvent ? { onEvent } : {}),
  });
  const write = () => {
    version = 2;
  };
  return { cache, slowFirstRead, write };
}

describe('the read-through cache', () => {
  it('shares one store read among 100 concurrent misses', async () => {
    let loads = 0;
    const gate = deferred<void>();
    const cache = createReadThroughCache({
      load: async (key) => {
        loads++;
        await gate.promise;
        return `value of ${key}`;
      },
      ttlMs: 60_000,
      maxEntries: 10,
      now: clockAt().now,
    });
    const reads = Array.from({ length: 100 }, () => cache.get('org-1'));
    gate.resolve();
    expect(new Set(await Promise.all(reads))).toEqual(new Set(['value of org-1']));
    expect(loads).toBe(1);
  });

  it('serves from memory until the TTL on its clock, then reads again', async () => {
    const clock = clockAt();
    let loads = 0;
    const events: CacheEvent[] = [];
    const cache = createReadThroughCache({
      load: async () => ++loads,
      ttlMs: 300_000,
      maxEntries: 10,
      now: clock.now,
      onEvent: (event) => events.push(event),
    });
    expect(await cache.get('k')).toBe(1);
    await clock.advance(300_000); // the TTL to the millisecond: still fresh
    expect(await cache.get('k')).toBe(1);
    await clock.advance(1);
    expect(await cache.get('k')).toBe(2);
    expect(await cache.get('k')).toBe(2);
    expect(loads).toBe(2);
    expect(events).toEqual(['miss', 'hit', 'miss', 'hit']);
  });

  // lru-cache would read the clock at most once per real millisecond (`ttlResolution`): an entry
  // read in that millisecond would outlive a move of the clock past its TTL.
  it('expires an entry the moment its clock passes the TTL', async () => {
    let now = 1_000_000;
    let loads = 0;
    const cache = createReadThroughCache({
      load: async () => ++loads,
      ttlMs: 100,
      maxEntries: 10,
      now: () => now,
    });
    expect(await cache.get('k')).toBe(1);
    expect(await cache.get('k')).toBe(1);
    now += 101;
    expect(await cache.get('k')).toBe(2);
  });

  it('remembers "not found" too', async () => {
    let loads = 0;
    const cache = createReadThroughCache<string | undefined>({
      load: async () => {
        loads++;
        return undefined;
      },
      ttlMs: 60_000,
      maxEntries: 10,
      now: clockAt().now,
    });
    expect(await cache.get('nobody')).toBeUndefined();
    expect(await cache.get('nobody')).toBeUndefined();
    expect(loads).toBe(1);
  });

  it('serves the last known value when the store fails after the TTL (stale-if-error)', async () => {
    const clock = clockAt();
    let storeUp = true;
    const events: CacheEvent[] = [];
    const cache = createReadThroughCache({
      load: async () => {
        if (!storeUp) throw new Error('connection refused');
        return 'known';
      },
      ttlMs: 60_000,
      maxEntries: 10,
      now: clock.now,
      onEvent: (event) => events.push(event),
    });
    expect(await cache.get('k')).toBe('known');
    storeUp = false;
    await clock.advance(3_600_000); // an hour past the TTL: still the answer of last resort
    expect(await cache.get('k')).toBe('known');
    expect(await cache.get('k')).toBe('known');
    expect(events).toEqual(['miss', 'stale', 'stale']);
    await expect(cache.get('never-seen')).rejects.toThrow('connection refused');
    storeUp = true;
    expect(await cache.get('k')).toBe('known');
    expect(events.at(-1)).toBe('miss');
  });

  it('serves a last known value only up to staleMaxMs after the store answered it', async () => {
    const clock = clockAt();
    let storeUp = true;
    const events: CacheEvent[] = [];
    const cache = createReadThroughCache({
      load: async (key) => {
        if (!storeUp) throw new Error('connection refused');
        return `${key} as read`;
      },
      ttlMs: 60_000,
      maxEntries: 10,
      staleMaxMs: 600_000,
      now: clock.now,
      onEvent: (event) => events.push(event),
    });
    expect(await cache.get('old')).toBe('old as read');
    await clock.advance(300_000);
    expect(await cache.get('young')).toBe('young as read');
    storeUp = false;
    await clock.advance(300_000); // 'old' was read 600 s ago, 'young' 300 s ago: both still served
    expect(await cache.get('old')).toBe('old as read');
    await clock.advance(1);
    await expect(cache.get('old')).rejects.toThrow('connection refused');
    expect(await cache.get('young')).toBe('young as read');
    await clock.advance(300_000);
    await expect(cache.get('young')).rejects.toThrow('connection refused');
    // Only what was served counts as stale.
    expect(events).toEqual(['miss', 'miss', 'stale', 'stale']);
    storeUp = true;
    expect(await cache.get('old')).toBe('old as read');
  });

  it('refuses a value older than staleMaxMs when the store is too slow, too', async () => {
    const clock = clockAt();
    const never = deferred<string>();
    let loads = 0;
    const cache = createReadThroughCache<string>({
      load: async () => (++loads === 1 ? 'first' : never.promise),
      ttlMs: 60_000,
      maxEntries: 10,
      loadTimeoutMs: 20,
      staleMaxMs: 120_000,
      now: clock.now,
    });
    expect(await cache.get('k')).toBe('first');
    await clock.advance(120_000);
    expect(await cache.get('k')).toBe('first');
    await clock.advance(1);
    await expect(cache.get('k')).rejects.toBeInstanceOf(StoreReadTimeout);
  });

  it('asks the store again once an entry is staleMaxMs old, even within a longer TTL', async () => {
    const clock = clockAt();
    let loads = 0;
    const cache = createReadThroughCache({
      load: async () => ++loads,
      ttlMs: 300_000,
      maxEntries: 10,
      staleMaxMs: 60_000,
      now: clock.now,
    });
    expect(await cache.get('k')).toBe(1);
    await clock.advance(60_000);
    expect(cache.fresh('k')?.value).toBe(1);
    await clock.advance(1);
    expect(cache.fresh('k')).toBeUndefined();
    expect(await cache.get('k')).toBe(2);
  });

  it('never keeps an answer read before an invalidation', async () => {
    const { cache, slowFirstRead, write } = versionedStore();
    const early = cache.get('k'); // starts reading version 1, slowly
    write(); // a write commits…
    cache.invalidate(['k']); // …and invalidates while the old read is still in flight
    slowFirstRead.resolve();
    expect(await early).toBe(2);
    expect(await cache.get('k')).toBe(2);
  });

  it('gives a caller that joined an invalidated read the answer read after it', async () => {
    const events: CacheEvent[] = [];
    const { cache, slowFirstRead, write } = versionedStore((event) => events.push(event));
    const starter = cache.get('k');
    const joiner = cache.get('k'); // joins the read in flight: lru-cache fails both when it is aborted
    write();
    cache.invalidate(['k']);
    slowFirstRead.resolve();
    expect(await Promise.all([starter, joiner])).toEqual([2, 2]);
    expect(events).toEqual(['invalidated', 'miss', 'miss']);
  });

  /** A store whose first `invalidatedReads` reads are each invalidated while in flight (a burst of writes). */
  function burstOfWrites(
    invalidatedReads: number,
    options: { loadTimeoutMs?: number; last?: Promise<string> } = {},
  ) {
    let loads = 0;
    const events: CacheEvent[] = [];
    const cache = createReadThroughCache<string>({
      load: async (key) => {
        const load = ++loads;
        if (load > invalidatedReads) return options.last ?? `read ${load}`;
        await new Promise((resolve) => setTimeout(resolve, 1));
        cache.invalidate([key]); // a write committed while this read was in flight
        return `read ${load}, from before a write`;
      },
      ttlMs: 60_000,
      maxEntries: 10,
      loadTimeoutMs: options.loadTimeoutMs ?? 0,
      now: clockAt().now,
      onEvent: (event) => events.push(event),
    });
    return { cache, events, loads: () => loads };
  }

  it('reads again after an invalidation, and once invalidated three times reads the store directly', async () => {
    const twice = burstOfWrites(2);
    expect(await twice.cache.get('k')).toBe('read 3');
    expect(twice.loads()).toBe(3);
    expect(twice.cache.fresh('k')?.value).toBe('read 3'); // the third read was the cache's own: kept

    const thrice = burstOfWrites(3);
    expect(await thrice.cache.get('k')).toBe('read 4');
    expect(thrice.loads()).toBe(4);
    expect(thrice.events).toEqual(['invalidated', 'invalidated', 'invalidated', 'miss']);
    expect(thrice.cache.fresh('k')).toBeUndefined(); // the direct read filled nothing
  });

  it('fails a direct read the store is too slow for', async () => {
    const { cache, loads } = burstOfWrites(3, { loadTimeoutMs: 20, last: deferred<string>().promise });
    const failure = await cache.get('k').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StoreReadTimeout);
    expect(failure).toMatchObject({
      name: 'StoreReadTimeout',
      message: 'no answer from the store within 20 ms',
    });
    expect(loads()).toBe(4);
  });

  it('names its timeout after the load timeout when nothing was known', async () => {
    const cache = createReadThroughCache<string>({
      load: () => deferred<string>().promise,
      ttlMs: 60_000,
      maxEntries: 10,
      loadTimeoutMs: 25,
      now: clockAt().now,
    });
    await expect(cache.get('k')).rejects.toMatchObject({
      name: 'StoreReadTimeout',
      message: 'no answer from the store within 25 ms',
    });
  });

  it('waits as long as the store takes when there is no load timeout', async () => {
    const cache = createReadThroughCache({
      load: async () => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        return 'slow but there';
      },
      ttlMs: 60_000,
      maxEntries: 10,
      loadTimeoutMs: 0,
      now: clockAt().now,
    });
    expect(await cache.get('k')).toBe('slow but there');
  });

  it('counts an invalidation only for what it forgot', async () => {
    const events: CacheEvent[] = [];
    const cache = createReadThroughCache({
      load: async (key) => key,
      ttlMs: 60_000,
      maxEntries: 10,
      now: clockAt().now,
      onEvent: (event) => events.push(event),
    });
    cache.invalidate(['never-read']);
    cache.invalidateAll();
    expect(events).toEqual([]);
    await cache.get('a');
    await cache.get('b');
    cache.invalidate(['a', 'b', 'c']);
    expect(events).toEqual(['miss', 'miss', 'invalidated', 'invalidated']);
  });

  it('holds at most maxEntries, dropping the least recently used', async () => {
    const loads: string[] = [];
    const cache = createReadThroughCache({
      load: async (key) => {
        loads.push(key);
        return key;
      },
      ttlMs: 60_000,
      maxEntries: 2,
      now: clockAt().now,
    });
    for (const key of ['a', 'b', 'a', 'c', 'a', 'b']) await cache.get(key);
    // 'b' was the least recently used when 'c' came in; 'a' stayed.
    expect(loads).toEqual(['a', 'b', 'c', 'b']);
  });

  it('forgets everything on invalidateAll', async () => {
    let loads = 0;
    const events: CacheEvent[] = [];
    const cache = createReadThroughCache({
      load: async () => ++loads,
      ttlMs: 60_000,
      maxEntries: 10,
      now: clockAt().now,
      onEvent: (event) => events.push(event),
    });
    await cache.get('a');
    await cache.get('b');
    cache.invalidateAll();
    expect(await cache.get('a')).toBe(3);
    expect(events).toEqual(['miss', 'miss', 'invalidated', 'miss']);
  });

  it('answers the last known value when the store is slower than the load timeout, and fills in later', async () => {
    const clock = clockAt();
    const events: CacheEvent[] = [];
    let slow: ReturnType<typeof deferred<string>> | undefined;
    let loads = 0;
    const cache = createReadThroughCache<string>({
      load: async () => {
        loads++;
        return slow ? slow.promise : 'first';
      },
      ttlMs: 60_000,
      maxEntries: 10,
      loadTimeoutMs: 20,
      now: clock.now,
      onEvent: (event) => events.push(event),
    });
    expect(await cache.get('k')).toBe('first');
    await clock.advance(60_001); // past the TTL
    slow = deferred<string>();
    expect(await cache.get('k')).toBe('first');
    expect(events).toEqual(['miss', 'stale']);
    // The read went on: once the store answers, its value is the cache's (fresh on the clock).
    const answered = slow;
    slow = deferred<string>(); // the next read would hang again: the value must come from memory
    answered.resolve('second');
    await expect(cache.get('k')).resolves.toBe('second');
    expect(loads).toBe(2);
  });

  it('fails a read the store is too slow for when nothing was known before', async () => {
    const never = deferred<string>();
    const cache = createReadThroughCache<string>({
      load: () => never.promise,
      ttlMs: 60_000,
      maxEntries: 10,
      loadTimeoutMs: 20,
      now: clockAt().now,
    });
    await expect(cache.get('k')).rejects.toBeInstanceOf(StoreReadTimeout);
  });
});
