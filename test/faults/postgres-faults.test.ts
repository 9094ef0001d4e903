import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import type { Hono } from 'hono';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBillingApp } from '../../src/app.js';
import { openLimitsStore } from '../../src/db/open-store.js';
import { auditLog, reservation, usageCounter, webhookEvent } from '../../src/db/schema.js';
import type { LimitsStore } from '../../src/limits/limits-store.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { eventually } from '../support/eventually.js';
import { orbSignature, orbTimestamp, subscriptionEvent } from '../support/orb.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { openTestDatabase, STORE_KINDS, type TestDatabase } from '../support/test-store.js';
import { workerToken } from '../support/tokens.js';

const SECRET = 'worker-secret-for-fault-tests-000000000001';
const ORB_SECRET = 'orb-secret-for-fault-tests-00000000000001';
const silent = createLogger({ level: 'silent' });

interface Granted {
  reservation_id: string;
  used: number;
}

/**
 * The service on its own connection pool, reaching PostgreSQL through a proxy the test can cut;
 * the test's own store (`database.store`) goes straight to the database, to set up and to check.
 */
describe.runIf(STORE_KINDS.includes('postgres'))('PostgreSQL faults', { timeout: 60_000 }, () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let store: LimitsStore;
  let app: Hono;
  let token = '';
  let direct: postgres.Sql;

  beforeAll(async () => {
    database = await openTestDatabase('postgres');
    const url = new URL(database.url ?? '');
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    store = await openLimitsStore({ url: proxy.through(url.toString()) });
    app = createBillingApp({
      secret: SECRET,
      store,
      orbWebhookSecret: ORB_SECRET,
      logger: silent,
      cacheTtlMs: 60_000,
      // Requests queued for a connection while PostgreSQL is away wait; the deadline bounds them.
      requestTimeoutMs: 3_000,
      storeTimeoutMs: 500,
    });
    token = await workerToken(SECRET);
    direct = postgres(database.url ?? '', { max: 2, onnotice: () => {} });
  });
  afterAll(async () => {
    await store?.close();
    await proxy?.close();
    await direct?.end();
    await database?.close();
  });

  const headersFor = (tenant: string) => ({
    authorization: `Bearer ${token}`,
    'tenant-id': tenant,
    'content-type': 'application/json',
  });
  const reserve = (tenant: string, key: string) =>
    app.request('/billing/reservations', {
      method: 'POST',
      headers: headersFor(tenant),
      body: JSON.stringify({ resource: 'deployments', quantity: 1, idempotency_key: key }),
    });
  const release = (tenant: string, id: string) =>
    app.request(`/billing/reservations/${id}`, { method: 'DELETE', headers: headersFor(tenant) });
  const storeIsBack = () => eventually(async () => (await app.request('/readyz')).status === 200);
  const usedOf = async (tenant: string) => {
    const [row] = await database.handle.db
      .select({ used: usageCounter.used })
      .from(usageCounter)
      .where(and(eq(usageCounter.organizationId, tenant), eq(usageCounter.resource, 'deployments')));
    return row?.used ?? 0;
  };

  it('grants no reservation twice and loses none when PostgreSQL goes away mid-run', async () => {
    const tenant = `org-${randomUUID()}`;
    const LIMIT = 40;
    await database.store.putTenant(tenant, { planId: 'free', overrides: { deployments: LIMIT } }, 'test');
    const keys = Array.from({ length: 60 }, (_, i) => `key-${i}`);
    const answers = new Map<string, { status: number; body: unknown }[]>();
    const record = async (key: string, res: Response) => {
      const entry = { status: res.status, body: await res.json().catch(() => null) };
      answers.set(key, [...(answers.get(key) ?? []), entry]);
      return entry.status;
    };

    // All at once; the connection goes away after the first ten answers, with others in flight.
    let answered = 0;
    let cut: Promise<void> | undefined;
    await Promise.all(
      keys.map(async (key) => {
        await record(key, await reserve(tenant, key));
        if (++answered === 10) cut = proxy.cut();
      }),
    );
    await cut;
    const failed = keys.filter((key) => answers.get(key)?.[0]?.status === 503);
    expect(failed.length).toBeGreaterThan(0); // the cut did interrupt some
    for (const entries of answers.values()) expect([201, 409, 503]).toContain(entries[0]?.status);

    // The Engine retries what failed, with the same idempotency key, once the store is back.
    await proxy.restore();
    await storeIsBack();
    for (const key of failed) {
      let status = 503;
      for (let attempt = 0; attempt < 20 && status === 503; attempt++)
        status = await record(key, await reserve(tenant, key));
      expect([201, 409]).toContain(status);
    }

    // Every key ends granted at most once: the same reservation each time it was answered 201.
    const granted = new Map<string, string>();
    for (const [key, entries] of answers) {
      const ids = new Set(
        entries.filter((e) => e.status === 201).map((e) => (e.body as Granted).reservation_id),
      );
      expect(ids.size, `key ${key} granted as ${[...ids]}`).toBeLessThanOrEqual(1);
      const [id] = ids;
      if (id) granted.set(key, id);
    }
    const rows = await database.handle.db
      .select({ id: reservation.id, key: reservation.idempotencyKey, quantity: reservation.quantity })
      .from(reservation)
      .where(eq(reservation.organizationId, tenant));
    // Nothing granted that the caller doesn't know of, nothing the caller knows that isn't there.
    expect(new Map(rows.map((row) => [row.key, row.id]))).toEqual(granted);
    expect(granted.size).toBe(LIMIT);
    expect(await usedOf(tenant)).toBe(LIMIT);

    // Releases through another cut: retried until answered, each counted once.
    const toRelease = [...granted.values()].slice(0, 20);
    let releasedAnswers = 0;
    let secondCut: Promise<void> | undefined;
    const pending = await Promise.all(
      toRelease.map(async (id) => {
        const res = await release(tenant, id);
        if (++releasedAnswers === 5) secondCut = proxy.cut();
        return { id, status: res.status };
      }),
    );
    await secondCut;
    await proxy.restore();
    await storeIsBack();
    for (const { id, status } of pending) {
      let now = status;
      for (let attempt = 0; attempt < 20 && now === 503; attempt++) now = (await release(tenant, id)).status;
      expect(now).toBe(204);
    }
    expect(await usedOf(tenant)).toBe(LIMIT - toRelease.length);
    const [open] = await database.handle.db
      .select({ quantity: sql<number>`coalesce(sum(${reservation.quantity}), 0)::int` })
      .from(reservation)
      .where(and(eq(reservation.organizationId, tenant), sql`${reservation.releasedAt} is null`));
    expect(open?.quantity).toBe(LIMIT - toRelease.length);
  });

  it('answers cached tenants from memory and others 503, promptly, while PostgreSQL is away under load', async () => {
    const cached = `org-${randomUUID()}`;
    const uncached = `org-${randomUUID()}`;
    await database.store.putTenant(cached, { planId: 'growth' }, 'test');
    await database.store.putTenant(uncached, { planId: 'growth' }, 'test');
    const ask = (tenant: string) => app.request('/billing/limits', { headers: headersFor(tenant) });
    expect((await ask(cached)).status).toBe(200);
    // Past the TTL of what is cached, so every request below goes to the store first.
    const stale = createBillingApp({
      secret: SECRET,
      store,
      logger: silent,
      cacheTtlMs: 1,
      storeTimeoutMs: 300,
    });
    const askStale = (tenant: string) => stale.request('/billing/limits', { headers: headersFor(tenant) });
    expect((await askStale(cached)).status).toBe(200);
    await proxy.cut();
    try {
      // More requests than the pool has connections: most wait for one that can't be made.
      const started = Date.now();
      const answers = await Promise.all([
        ...Array.from({ length: 30 }, () => askStale(cached)),
        ...Array.from({ length: 30 }, () => askStale(uncached)),
      ]);
      const elapsed = Date.now() - started;
      expect(answers.slice(0, 30).map((res) => res.status)).toEqual(Array(30).fill(200));
      expect(answers.slice(30).map((res) => res.status)).toEqual(Array(30).fill(503));
      expect(await answers[30]?.json()).toEqual({ detail: 'Limits store unavailable' });
      // Bounded by the store timeout, not by the request deadline (3 s) or the database's return.
      expect(elapsed).toBeLessThan(3_000);
    } finally {
      await proxy.restore();
    }
    await storeIsBack();
    expect((await askStale(uncached)).status).toBe(200);
  });

  it('reconnects by itself when PostgreSQL ends its connections, cross-replica invalidation included', async () => {
    const tenant = `org-${randomUUID()}`;
    await database.store.putTenant(tenant, { planId: 'free' }, 'test');
    const planOf = async () => {
      const res = await app.request('/billing/limits', { headers: headersFor(tenant) });
      return res.status === 200
        ? ((await res.json()) as { limits: { plan_type: string } }).limits.plan_type
        : res.status;
    };
    expect(await planOf()).toBe('free'); // cached now

    // Every backend of the test database but this one's: the service's pool and its LISTEN connection.
    const ended = await direct`
      select pg_terminate_backend(pid) as ended from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid()`;
    expect(ended.length).toBeGreaterThan(0);

    // Another replica (the test's own store) changes the plan: this one must hear of it through
    // its re-established LISTEN, not wait for the cache TTL (60 s here).
    await eventually(async () => {
      // The test's own pool lost its connections too: a first attempt may fail and is retried.
      const written = await database.store.putTenant(tenant, { planId: 'growth' }, 'test').then(
        () => true,
        () => false,
      );
      return written && (await planOf()) === 'growth';
    }, 15_000);
    expect((await app.request('/readyz')).status).toBe(200);
    const other = `org-${randomUUID()}`;
    await database.store.putTenant(other, { planId: 'enterprise' }, 'test');
    expect(
      (
        (await (await app.request('/billing/limits', { headers: headersFor(other) })).json()) as {
          limits: { plan_type: string };
        }
      ).limits.plan_type,
    ).toBe('enterprise');
  });

  it('applies an Orb event exactly once when its transaction was cut short and Orb delivers it again', async () => {
    const customer = `cus-${randomUUID()}`;
    const tenant = `org-${randomUUID()}`;
    await database.store.putTenant(tenant, { planId: 'free', customerId: customer }, 'test');
    const id = `evt-${randomUUID()}`;
    const body = subscriptionEvent({ id, type: 'subscription.plan_changed', customer, plan: 'enterprise' });
    const deliver = () => {
      const timestamp = orbTimestamp();
      return app.request('/webhooks/orb', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-orb-timestamp': timestamp,
          'x-orb-signature': orbSignature(ORB_SECRET, timestamp, body),
        },
        body,
      });
    };

    // Hold the customer's row, so that the event's transaction stops inside, after recording the event.
    let releaseLock: () => void = () => {};
    const lockHeld = new Promise<void>((held) => {
      void direct.begin(async (tx) => {
        await tx`select 1 from customer where id = ${customer} for update`;
        held();
        await new Promise<void>((resolve) => {
          releaseLock = resolve;
        });
      });
    });
    await lockHeld;
    const firstDelivery = deliver();
    // The event's backend waits for the lock: end it there, as a crash or a failover would.
    await eventually(async () => {
      const waiting = await direct`
        select pid from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`;
      if (waiting.length === 0) return false;
      await direct`select pg_terminate_backend(${waiting[0]?.['pid']})`;
      return true;
    });
    const first = await firstDelivery;
    expect(first.status).toBe(503); // Orb will deliver again
    releaseLock();

    // Nothing of it was kept: no event row, no plan change, no audit entry.
    expect(await database.handle.db.select().from(webhookEvent).where(eq(webhookEvent.id, id))).toEqual([]);
    expect((await database.store.findTenant(tenant))?.planId).toBe('free');

    await storeIsBack();
    const again = await deliver();
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ event_id: id, outcome: 'applied' });
    expect(await (await deliver()).json()).toEqual({ event_id: id, outcome: 'duplicate' });

    expect(await database.handle.db.select().from(webhookEvent).where(eq(webhookEvent.id, id))).toHaveLength(
      1,
    );
    const audits = await database.handle.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.subjectId, customer), sql`${auditLog.after} ->> 'event_id' = ${id}`));
    expect(audits).toHaveLength(1);
    expect((await database.store.findTenant(tenant))?.planId).toBe('enterprise');
  });
});
