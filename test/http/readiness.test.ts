import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { openBillingStore } from '../../src/db/store.js';
import { eventually } from '../support/eventually.js';
import { createHarness, STORE_KINDS, useHarness } from '../support/harness.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

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
    expect((await app.request('/healthz')).status).toBe(200);
  });
});

describe.runIf(STORE_KINDS.includes('postgres'))('when PostgreSQL goes away and comes back', () => {
  it('flips /readyz, serves cached tenants meanwhile, and recovers without a restart', async () => {
    const h = await createHarness({ store: 'postgres' });
    const url = new URL(h.database.url ?? '');
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    const store = await openBillingStore({ url: proxy.through(url.toString()) });
    try {
      const app = h.withApp({ dependencies: { store }, config: { cacheTtlMs: 60_000 } });
      const cached = await h.tenant('growth');
      const neverSeen = await h.tenant('free');
      const ready = async () => (await app.request('/readyz')).status;

      expect(await ready()).toBe(200);
      expect((await app.limitsOf(cached)).status).toBe(200);

      await proxy.cut();
      await app.clock.advance(60_001); // past the TTL: every answer is asked of the store first
      expect(await ready()).toBe(503);
      expect(await (await app.request('/readyz')).json()).toEqual({ detail: 'Limits store unavailable' });
      const stale = await app.limitsOf(cached);
      expect(stale.status).toBe(200);
      expect(((await stale.json()) as { limits: { plan_type: string } }).limits.plan_type).toBe('growth');
      expect((await app.limitsOf(neverSeen)).status).toBe(503);

      await proxy.restore();
      await eventually(async () => (await ready()) === 200);
      expect((await app.limitsOf(neverSeen)).status).toBe(200);
    } finally {
      await store.close();
      await proxy.close();
    }
  });
});
