import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBillingApp } from '../../src/app.js';
import { openLimitsStore } from '../../src/db/open-store.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { eventually } from '../support/eventually.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { openTestDatabase, STORE_KINDS, type TestDatabase } from '../support/test-store.js';
import { workerToken } from '../support/tokens.js';

const SECRET = 'worker-secret-for-readiness-tests-00000001';
const silent = createLogger({ level: 'silent' });

describe.each(STORE_KINDS)('GET /readyz on %s', (kind) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openTestDatabase(kind);
  });
  afterAll(() => database?.close());

  it('is ready when the store answers and every checked-in migration is applied', async () => {
    const app = createBillingApp({ secret: SECRET, store: database.store, logger: silent });
    const res = await app.request('/readyz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('is not ready while a migration is missing, and ready again once it is back', async () => {
    const app = createBillingApp({ secret: SECRET, store: database.store, logger: silent });
    const { db } = database.handle;
    const removed = await db.execute(
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
      const res = await app.request('/readyz');
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ detail: 'Limits store migrations not applied (1 pending)' });
      expect((await app.request('/healthz')).status).toBe(200);
    } finally {
      await db.execute(
        sql`insert into drizzle.__drizzle_migrations (hash, created_at) values (${row.hash}, ${row.created_at})`,
      );
    }
    expect((await app.request('/readyz')).status).toBe(200);
  });

  it('is not ready once shutting down, while still alive', async () => {
    let stopping = false;
    const app = createBillingApp({
      secret: SECRET,
      store: database.store,
      logger: silent,
      isShuttingDown: () => stopping,
    });
    expect((await app.request('/readyz')).status).toBe(200);
    stopping = true;
    const res = await app.request('/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ detail: 'Shutting down' });
    expect((await app.request('/healthz')).status).toBe(200);
  });
});

describe.runIf(STORE_KINDS.includes('postgres'))('when PostgreSQL goes away and comes back', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openTestDatabase('postgres');
  });
  afterAll(() => database?.close());

  it('flips /readyz, serves cached tenants meanwhile, and recovers without a restart', async () => {
    const url = new URL(database.url ?? '');
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    const store = await openLimitsStore({ url: proxy.through(url.toString()) });
    try {
      const app = createBillingApp({ secret: SECRET, store, cacheTtlMs: 1, logger: silent });
      const token = await workerToken(SECRET);
      const cached = `org-${randomUUID()}`;
      const neverSeen = `org-${randomUUID()}`;
      await database.store.putTenant(cached, { planId: 'growth' }, 'test');
      await database.store.putTenant(neverSeen, { planId: 'free' }, 'test');
      const limitsOf = (tenant: string) =>
        app.request('/billing/limits', {
          headers: { authorization: `Bearer ${token}`, 'tenant-id': tenant },
        });
      const ready = async () => (await app.request('/readyz')).status;

      expect(await ready()).toBe(200);
      expect((await limitsOf(cached)).status).toBe(200);

      await proxy.cut();
      expect(await ready()).toBe(503);
      expect(await (await app.request('/readyz')).json()).toEqual({ detail: 'Limits store unavailable' });
      const stale = await limitsOf(cached);
      expect(stale.status).toBe(200);
      expect(((await stale.json()) as { limits: { plan_type: string } }).limits.plan_type).toBe('growth');
      expect((await limitsOf(neverSeen)).status).toBe(503);

      await proxy.restore();
      await eventually(async () => (await ready()) === 200);
      expect((await limitsOf(neverSeen)).status).toBe(200);
    } finally {
      await store.close();
      await proxy.close();
    }
  });
});
