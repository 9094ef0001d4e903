import { describe, expect, it } from 'vitest';
import type { CacheEvent } from '../../../src/domain/limits/read-through-cache.js';
import type { BillingStore } from '../../../src/domain/store.js';
import { unique, useHarness } from '../../support/harness.js';

/** The real store, with a switch that makes every read fail as an unreachable database would, and a read counter. */
function faultyStore(store: BillingStore) {
  const state = { down: false, reads: 0 };
  const fail = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
  const wrapped: BillingStore = {
    ...store,
    tenants: {
      ...store.tenants,
      findTenant: (tenantId) => {
        state.reads++;
        return state.down ? fail() : store.tenants.findTenant(tenantId);
      },
      listPlans: () => (state.down ? fail() : store.tenants.listPlans()),
    },
    ping: () => (state.down ? fail() : store.ping()),
  };
  return { store: wrapped, state };
}

describe('when the store is unreachable', () => {
  const h = useHarness({ store: 'pglite' });

  it('serves cached tenants (stale), answers others 503, stays ready (degraded), and recovers', async () => {
    const { store, state } = faultyStore(h.store);
    const events: CacheEvent[] = [];
    const app = h.withApp({
      dependencies: { store },
      config: { cacheTtlMs: 60_000, staleMaxMs: 600_000 },
      hooks: { onCacheEvent: (e) => events.push(e) },
    });
    const known = await h.tenant('growth');
    const unknownToCache = await h.tenant('growth');

    expect(await (await app.request('/readyz')).json()).toEqual({ status: 'ok' });
    expect((await app.limitsOf(known)).status).toBe(200);
    state.down = true;
    await app.clock.advance(60_001); // past the TTL
    const outageNoticedAfter = app.clock.now();

    const stale = await app.limitsOf(known);
    expect(stale.status).toBe(200);
    expect(((await stale.json()) as { limits: { deployments: number } }).limits.deployments).toBe(5);
    expect(events).toContain('stale');

    const uncached = await app.limitsOf(unknownToCache);
    expect(uncached.status).toBe(503);
    expect(await uncached.text()).toBe('{"detail":"Limits store unavailable"}');

    const ready = await app.request('/readyz');
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { since: string };
    expect(body).toEqual({ status: 'degraded', store: 'unreachable', since: expect.any(String) });
    expect(body.since).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    // The outage began at the first failed read, on the app's clock.
    expect(Date.parse(body.since)).toBeGreaterThanOrEqual(outageNoticedAfter);
    expect(Date.parse(body.since)).toBeLessThanOrEqual(app.clock.now());
    expect((await app.request('/healthz')).status).toBe(200);

    state.down = false;
    expect((await app.limitsOf(unknownToCache)).status).toBe(200);
    expect(await (await app.request('/readyz')).json()).toEqual({ status: 'ok' });
  });

  it('stops serving a cached tenant, and turns unready, once the outage outlasts the stale limit', async () => {
    const { store, state } = faultyStore(h.store);
    const app = h.withApp({ dependencies: { store }, config: { cacheTtlMs: 60_000, staleMaxMs: 120_000 } });
    const known = await h.tenant('growth');
    expect((await app.request('/readyz')).status).toBe(200);
    expect((await app.limitsOf(known)).status).toBe(200);
    state.down = true;

    // The app's clock is real time plus the moves: a margin for the time the test itself takes.
    await app.clock.advance(110_000);
    expect((await app.limitsOf(known)).status).toBe(200);
    expect((await app.request('/readyz')).status).toBe(200);
    await app.clock.advance(10_000);
    const refused = await app.limitsOf(known);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toEqual({ detail: 'Limits store unavailable' });
    const unready = await app.request('/readyz');
    expect(unready.status).toBe(503);
    expect(await unready.json()).toEqual({ detail: 'Limits store unavailable' });

    state.down = false;
    expect((await app.limitsOf(known)).status).toBe(200);
    expect(await (await app.request('/readyz')).json()).toEqual({ status: 'ok' });
  });

  it('answers header mode from the last known plan catalog up to the stale limit', async () => {
    const { store, state } = faultyStore(h.store);
    const app = h.withApp({
      dependencies: { store },
      config: { planSource: 'header', cacheTtlMs: 60_000, staleMaxMs: 120_000 },
    });
    const tenant = unique('org');
    expect((await app.limits(tenant)).plan_type).toBe('free');
    state.down = true;
    await app.clock.advance(60_001); // past the catalog's TTL
    expect((await app.limitsOf(tenant, 'growth')).status).toBe(200);
    await app.clock.advance(60_000);
    const refused = await app.limitsOf(tenant, 'growth');
    expect(refused.status).toBe(503);
    expect(await refused.json()).toEqual({ detail: 'Limits store unavailable' });
  });

  it('answers admin writes 503 and writes nothing', async () => {
    const { store, state } = faultyStore(h.store);
    const failingWrites: BillingStore = {
      ...store,
      tenants: { ...store.tenants, putTenant: () => Promise.reject(new Error('connect ECONNREFUSED')) },
    };
    const app = h.withApp({ dependencies: { store: failingWrites } });
    const tenant = unique('org');
    state.down = true;
    const res = await app.asAdmin(`/admin/tenants/${tenant}`, {
      method: 'PUT',
      body: JSON.stringify({ plan_id: 'free' }),
    });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ detail: 'Limits store unavailable' });
    state.down = false;
    expect(await h.store.tenants.findTenant(tenant)).toBeUndefined();
  });

  it('makes one store read for 100 concurrent requests about one uncached tenant', async () => {
    const { store, state } = faultyStore(h.store);
    const app = h.withApp({ dependencies: { store } });
    const tenant = await h.tenant('free');
    const responses = await Promise.all(Array.from({ length: 100 }, () => app.limitsOf(tenant)));
    expect(responses.map((res) => res.status)).toEqual(Array(100).fill(200));
    expect(state.reads).toBe(1);
  });
});
