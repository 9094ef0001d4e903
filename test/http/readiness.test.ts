import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { openBillingStore } from '../../src/db/store.js';
import type { BillingStore } from '../../src/domain/store.js';
import { eventually } from '../support/eventually.js';
import { createHarness, type Harness, STORE_KINDS, useHarness } from '../support/harness.js';
import { parsePrometheus, sampleSum } from '../support/prometheus.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

/** The store, with a switch that makes it unreachable as a stopped database would be (ping and reads). */
function switchableStore(store: BillingStore, down = false) {
  const state = { down };
  const refused = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
  const wrapped: BillingStore = {
    ...store,
    tenants: {
      ...store.tenants,
      findTenant: (tenantId) => (state.down ? refused() : store.tenants.findTenant(tenantId)),
      listPlans: () => (state.down ? refused() : store.tenants.listPlans()),
    },
    ping: () => (state.down ? refused() : store.ping()),
    pendingMigrations: () => (state.down ? refused() : store.pendingMigrations()),
  };
  return { store: wrapped, state };
}

/** RFC 3339, as `Date#toISOString` writes it (UTC). */
const RFC_3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

async function readiness(app: Pick<Harness, 'request'>) {
  const res = await app.request('/readyz');
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function storeGauges(app: Pick<Harness, 'request'>) {
  const samples = parsePrometheus(await (await app.request('/metrics')).text());
  return {
    up: sampleSum(samples, 'billing_store_up'),
    unreachableSeconds: sampleSum(samples, 'billing_store_unreachable_seconds'),
  };
}

describe.each(STORE_KINDS)('GET /readyz on %s', (kind) => {
  const h = useHarness({ store: kind });

  it('is ready when the store answers and every checked-in migration is applied', async () => {
    const res = await h.request('/readyz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('is not ready while a migration is missing, and ready again once it is back', async () => {
    const removed = await h.db.execute(
      sql`delete from drizzle.__drizzle_migrations
          where id = (select max(id) from drizzle.__drizzle_migrations) returning hash, created_at`,
    );
    const rows = (Array.isArray(removed) ? removed : (removed as { rows: unknown[] }).rows) as {
      hash: string;
      created_at: string;
    }[];
    const [row] = rows;
    if (!row) throw new Error('no migration was recorded');
    try {
      const res = await h.request('/readyz');
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ detail: 'Limits store migrations not applied (1 pending)' });
      expect((await h.request('/healthz')).status).toBe(200);
    } finally {
      await h.db.execute(
        sql`insert into drizzle.__drizzle_migrations (hash, created_at) values (${row.hash}, ${row.created_at})`,
      );
    }
    expect((await h.request('/readyz')).status).toBe(200);
  });

  it('is not ready once shutting down, while still alive', async () => {
    let stopping = false;
    const app = h.withApp({ hooks: { isShuttingDown: () => stopping } });
    expect((await app.request('/readyz')).status).toBe(200);
    stopping = true;
    const res = await app.request('/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ detail: 'Shutting down' });
    const alive = await app.request('/healthz');
    expect(alive.status).toBe(200);
    expect(await alive.json()).toEqual({ status: 'ok' });
  });

  it('stays ready, degraded since the outage began, while the store is away — not after the stale limit', async () => {
    const { store, state } = switchableStore(h.store);
    const app = h.withApp({ dependencies: { store }, config: { staleMaxMs: 120_000 } });
    expect(await readiness(app)).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await storeGauges(app)).toEqual({ up: 1, unreachableSeconds: 0 });

    state.down = true;
    await app.clock.advance(30_000);
    const outageNoticedAfter = app.clock.now();
    const degraded = await readiness(app);
    expect(degraded).toEqual({
      status: 200,
      body: { status: 'degraded', store: 'unreachable', since: expect.stringMatching(RFC_3339) },
    });
    const since = Date.parse(String(degraded.body['since']));
    expect(since).toBeGreaterThanOrEqual(outageNoticedAfter);
    expect(since).toBeLessThanOrEqual(app.clock.now());

    // Later probes keep the outage's start; the gauges count from it.
    await app.clock.advance(60_000);
    expect((await readiness(app)).body['since']).toBe(degraded.body['since']);
    const gauges = await storeGauges(app);
    expect(gauges.up).toBe(0);
    expect(gauges.unreachableSeconds).toBeGreaterThanOrEqual(60);

    // 120 s after the store last answered (a margin: the clock is real time plus the moves).
    await app.clock.advance(40_000);
    expect(await readiness(app)).toEqual({ status: 503, body: { detail: 'Limits store unavailable' } });
    expect((await app.request('/healthz')).status).toBe(200);

    state.down = false;
    expect(await readiness(app)).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await storeGauges(app)).toEqual({ up: 1, unreachableSeconds: 0 });
  });

  it('is not ready when the store has never answered since the replica started', async () => {
    const { store } = switchableStore(h.store, true);
    const app = h.withApp({ dependencies: { store } });
    expect(await readiness(app)).toEqual({ status: 503, body: { detail: 'Limits store unavailable' } });
    expect((await storeGauges(app)).up).toBe(0);
  });

  it('says shutting down during an outage too', async () => {
    const { store, state } = switchableStore(h.store);
    let stopping = false;
    const app = h.withApp({ dependencies: { store }, hooks: { isShuttingDown: () => stopping } });
    expect((await readiness(app)).status).toBe(200);
    state.down = true;
    expect((await readiness(app)).body['status']).toBe('degraded');
    stopping = true;
    expect(await readiness(app)).toEqual({ status: 503, body: { detail: 'Shutting down' } });
  });

  it('keeps the last migration count while the store is away (it cannot be asked)', async () => {
    const { store, state } = switchableStore({ ...h.store, pendingMigrations: async () => 2 });
    const app = h.withApp({ dependencies: { store } });
    const pending = { status: 503, body: { detail: 'Limits store migrations not applied (2 pending)' } };
    expect(await readiness(app)).toEqual(pending);
    state.down = true;
    expect(await readiness(app)).toEqual(pending);
  });
});

describe('when the embedded store (PGlite) is closed under a running app', () => {
  // PGlite runs in the process: it can't be unreachable the way a database server can. A closed
  // client is the nearest thing (it fails every query without a SQLSTATE), and is taken as one.
  it('stays ready (degraded) serving what it cached, until the stale limit', async () => {
    const h = await createHarness({ store: 'pglite' });
    const app = h.withApp({ config: { cacheTtlMs: 60_000, staleMaxMs: 180_000 } });
    const cached = await h.tenant('growth');
    const neverAsked = await h.tenant('free');
    expect((await app.limits(cached)).plan_type).toBe('growth');
    expect((await readiness(app)).body).toEqual({ status: 'ok' });

    await h.database.close();
    await app.clock.advance(60_001); // past the TTL: answers are asked of the store first
    expect((await app.limits(cached)).plan_type).toBe('growth');
    expect((await app.limitsOf(neverAsked)).status).toBe(503);
    expect(await readiness(app)).toEqual({
      status: 200,
      body: { status: 'degraded', store: 'unreachable', since: expect.stringMatching(RFC_3339) },
    });
    expect((await storeGauges(app)).up).toBe(0);

    // Past the stale limit (with a margin: the clock is real time plus the moves).
    await app.clock.advance(130_000);
    expect((await app.limitsOf(cached)).status).toBe(503);
    expect(await readiness(app)).toEqual({ status: 503, body: { detail: 'Limits store unavailable' } });
  });
});

describe.runIf(STORE_KINDS.includes('postgres'))('when PostgreSQL goes away and comes back', () => {
  it('stays ready (degraded), serves cached tenants meanwhile, and recovers without a restart', async () => {
    const h = await createHarness({ store: 'postgres' });
    // Created before the app's store listens: a creation's notice arriving after the first read
    // would drop the cached answer this test relies on (an invalidation forgets the last-known value).
    const cached = await h.tenant('growth');
    const neverSeen = await h.tenant('free');
    const url = new URL(h.database.url ?? '');
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    const store = await openBillingStore({ url: proxy.through(url.toString()) });
    try {
      const app = h.withApp({ dependencies: { store }, config: { cacheTtlMs: 60_000, storeTimeoutMs: 500 } });

      expect((await readiness(app)).body).toEqual({ status: 'ok' });
      expect((await app.limitsOf(cached)).status).toBe(200);

      await proxy.cut();
      await app.clock.advance(60_001); // past the TTL: every answer is asked of the store first
      expect(await readiness(app)).toEqual({
        status: 200,
        body: { status: 'degraded', store: 'unreachable', since: expect.stringMatching(RFC_3339) },
      });
      const stale = await app.limitsOf(cached);
      expect(stale.status).toBe(200);
      expect(((await stale.json()) as { limits: { plan_type: string } }).limits.plan_type).toBe('growth');
      expect((await app.limitsOf(neverSeen)).status).toBe(503);

      await proxy.restore();
      await eventually(async () => (await readiness(app)).body['status'] === 'ok');
      expect((await app.limitsOf(neverSeen)).status).toBe(200);
    } finally {
      await store.close();
      await proxy.close();
    }
  });
});

describe('readiness without a store (plans from the header)', () => {
  const h = useHarness();

  it('is ready: there is nothing to wait for', async () => {
    expect(await readiness(h)).toEqual({ status: 200, body: { status: 'ok' } });
  });
});
