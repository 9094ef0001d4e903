import { describe, expect, it } from 'vitest';
import {
  type CacheEvent,
  createReadThroughCache,
  StoreReadTimeout,
} from '../../src/limits/read-through-cache.js';

function deferred<T>() {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
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
    });
    const reads = Array.from({ length: 100 }, () => cache.get('org-1'));
    gate.resolve();
    expect(new Set(await Promise.all(reads))).toEqual(new Set(['value of org-1']));
    expect(loads).toBe(1);
  });

  it('serves from memory until the TTL, then reads again', async () => {
    let loads = 0;
    const events: CacheEvent[] = [];
    const cache = createReadThroughCache({
      load: async () => ++loads,
      ttlMs: 40,
      maxEntries: 10,
      onEvent: (event) => events.push(event),
    });
    expect(await cache.get('k')).toBe(1);
    expect(await cache.get('k')).toBe(1);
    const deadline = Date.now() + 2_000;
    while ((await cache.get('k')) === 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(loads).toBe(2);
    expect(events.slice(0, 2)).toEqual(['miss', 'hit']);
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
    });
    expect(await cache.get('nobody')).toBeUndefined();
    expect(await cache.get('nobody')).toBeUndefined();
    expect(loads).toBe(1);
  });

  it('serves the last known value when the store fails after the TTL (stale-if-error)', async () => {
    let storeUp = true;
    const events: CacheEvent[] = [];
    const cache = createReadThroughCache({
      load: async () => {
        if (!storeUp) throw new Error('connection refused');
        return 'known';
      },
      ttlMs: 20,
      maxEntries: 10,
      onEvent: (event) => events.push(event),
    });
    expect(await cache.get('k')).toBe('known');
    storeUp = false;
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(await cache.get('k')).toBe('known');
    expect(await cache.get('k')).toBe('known');
    expect(events).toContain('stale');
    await expect(cache.get('never-seen')).rejects.toThrow('connection refused');
  });

  it('never keeps an answer read before an invalidation', async () => {
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
    });
    const early = cache.get('k'); // starts reading version 1, slowly
    version = 2; // a write commits…
    cache.invalidate(['k']); // …and invalidates while the old read is still in flight
    slowFirstRead.resolve();
    expect(await early).toBe(2);
    expect(await cache.get('k')).toBe(2);
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
    });
    for (const key of ['a', 'b', 'a', 'c', 'a', 'b']) await cache.get(key);
    // 'b' was the least recently used when 'c' came in; 'a' stayed.
    expect(loads).toEqual(['a', 'b', 'c', 'b']);
  });

  it('forgets everything on invalidateAll', async () => {
    let loads = 0;
    const cache = createReadThroughCache({ load: async () => ++loads, ttlMs: 60_000, maxEntries: 10 });
    await cache.get('a');
    await cache.get('b');
    cache.invalidateAll();
    expect(await cache.get('a')).toBe(3);
  });

  it('answers the last known value when the store is slower than the load timeout, and fills in later', async () => {
    const events: CacheEvent[] = [];
    let slow: ReturnType<typeof deferred<string>> | undefined;
    const cache = createReadThroughCache<string>({
      load: async () => (slow ? slow.promise : 'first'),
      ttlMs: 1,
      maxEntries: 10,
      loadTimeoutMs: 20,
      onEvent: (event) => events.push(event),
    });
    expect(await cache.get('k')).toBe('first');
    await new Promise((resolve) => setTimeout(resolve, 5)); // past the TTL
    slow = deferred<string>();
    expect(await cache.get('k')).toBe('first');
    expect(events).toEqual(['miss', 'stale']);
    slow.resolve('second');
    await new Promise((resolve) => setTimeout(resolve, 5));
    slow = deferred<string>(); // the next read would hang again: the value must come from memory
    await expect(cache.get('k')).resolves.toBe('second');
  });

  it('fails a read the store is too slow for when nothing was known before', async () => {
    const never = deferred<string>();
    const cache = createReadThroughCache<string>({
      load: () => never.promise,
      ttlMs: 60_000,
      maxEntries: 10,
      loadTimeoutMs: 20,
    });
    await expect(cache.get('k')).rejects.toBeInstanceOf(StoreReadTimeout);
  });
});
