import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBillingApp } from '../../src/app.js';
import type { LimitsStore } from '../../src/limits/limits-store.js';
import type { CacheEvent } from '../../src/limits/read-through-cache.js';
import { openTestDatabase, type TestDatabase } from '../support/test-store.js';
import { workerToken } from '../support/tokens.js';

const SECRET = 'worker-secret-for-store-fault-tests-000001';

/** The real store, with a switch that makes every read fail as an unreachable database would, and a read counter. */
function faultyStore(store: LimitsStore) {
  const state = { down: false, reads: 0 };
  const fail = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
  const wrapped: LimitsStore = {
    ...store,
    findTenant: (tenantId) => {
      state.reads++;
      return state.down ? fail() : store.findTenant(tenantId);
    },
    listPlans: () => (state.down ? fail() : store.listPlans()),
    ping: () => (state.down ? fail() : store.ping()),
  };
  return { store: wrapped, state };
}

describe('when the store is unreachable', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openTestDatabase('pglite');
  });
  afterAll(() => database?.close());

  it('serves cached tenants (stale), answers others 503, reports not ready, and recovers', async () => {
    const { store, state } = faultyStore(database.store);
    const events: CacheEvent[] = [];
    const app = createBillingApp({
      secret: SECRET,
      store,
      cacheTtlMs: 1,
      onCacheEvent: (e) => events.push(e),
    });
    const token = await workerToken(SECRET);
    const known = `org-${randomUUID()}`;
    const unknownToCache = `org-${randomUUID()}`;
    await database.store.putTenant(known, { planId: 'growth' }, 'test');
    await database.store.putTenant(unknownToCache, { planId: 'growth' }, 'test');
    const limitsOf = (tenantId: string) =>
      app.request('/billing/limits', {
        headers: { authorization: `Bearer ${token}`, 'tenant-id': tenantId },
      });

    expect((await limitsOf(known)).status).toBe(200);
    state.down = true;
    await new Promise((resolve) => setTimeout(resolve, 5)); // past the 1 ms TTL

    const stale = await limitsOf(known);
    expect(stale.status).toBe(200);
    expect(((await stale.json()) as { limits: { deployments: number } }).limits.deployments).toBe(5);
    expect(events).toContain('stale');

    const uncached = await limitsOf(unknownToCache);
    expect(uncached.status).toBe(503);
    expect(await uncached.text()).toBe('{"detail":"Limits store unavailable"}');

    const ready = await app.request('/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ detail: 'Limits store unavailable' });
    expect((await app.request('/healthz')).status).toBe(200);

    state.down = false;
    expect((await limitsOf(unknownToCache)).status).toBe(200);
    expect((await app.request('/readyz')).status).toBe(200);
  });

  it('answers admin writes 503 and writes nothing', async () => {
    const { store, state } = faultyStore(database.store);
    const failingWrites: LimitsStore = {
      ...store,
      putTenant: () => Promise.reject(new Error('connect ECONNREFUSED')),
    };
    const adminSecret = 'admin-secret-for-store-fault-tests-0000001';
    const app = createBillingApp({ secret: SECRET, adminSecret, store: failingWrites });
    const { adminToken } = await import('../support/tokens.js');
    const tenant = `org-${randomUUID()}`;
    state.down = true;
    const res = await app.request(`/admin/tenants/${tenant}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${await adminToken(adminSecret)}` },
      body: JSON.stringify({ plan_id: 'free' }),
    });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ detail: 'Limits store unavailable' });
    state.down = false;
    expect(await database.store.findTenant(tenant)).toBeUndefined();
  });

  it('makes one store read for 100 concurrent requests about one uncached tenant', async () => {
    const { store, state } = faultyStore(database.store);
    const app = createBillingApp({ secret: SECRET, store });
    const token = await workerToken(SECRET);
    const tenant = `org-${randomUUID()}`;
    await database.store.putTenant(tenant, { planId: 'free' }, 'test');
    const responses = await Promise.all(
      Array.from({ length: 100 }, () =>
        app.request('/billing/limits', {
          headers: { authorization: `Bearer ${token}`, 'tenant-id': tenant },
        }),
      ),
    );
    expect(responses.map((res) => res.status)).toEqual(Array(100).fill(200));
    expect(state.reads).toBe(1);
  });
});
