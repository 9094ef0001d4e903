/**
 * `GET /admin/activity` and `GET /admin/refusals` through the app: reservations granted, released,
 * refused and expired by the Engine show in the hour they happened in (the app's clock), of one
 * tenant or summed over all; a replay is not a second grant; refusals ranked; another replica's
 * counts show once it has flushed them; the last counts are flushed when the store closes.
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { Activity, ActivityBucket, RefusalSummary } from '../../src/contract/activity.js';
import type { BillingStore } from '../../src/domain/store.js';
import type { TenantActivity } from '../../src/domain/usage/activity-store.js';
import { eventually } from '../support/eventually.js';
import { createHarness, type Harness, STORE_KINDS, testClock, trpcPath } from '../support/harness.js';

const HOUR = 3_600_000;
const hourOf = (at: number) => Math.floor(at / HOUR) * HOUR;
const iso = (at: number) => new Date(at).toISOString();

/**
 * An app whose clock stands still 5 seconds before the next UTC hour (ahead of real time by less
 * than an hour) until the test moves it across the hour. The tokens the harness signs carry the
 * real time: a minute of tolerance keeps them valid a few seconds either side.
 */
function beforeNextHour(h: Harness) {
  const boundary = hourOf(Date.now()) + HOUR;
  const clock = testClock(boundary - 5_000);
  const app = h.withApp({ config: { clockToleranceSeconds: 60 }, dependencies: { now: clock.now } });
  return { app, clock, boundary };
}

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

async function reserve(app: Harness, tenant: string, body: Record<string, unknown>) {
  return app.asWorker('/billing/reservations', {
    ...json({ resource: 'deployments', ...body }),
    headers: { 'content-type': 'application/json', 'tenant-id': tenant },
  });
}

async function granted(app: Harness, tenant: string, body: Record<string, unknown>): Promise<string> {
  const res = await reserve(app, tenant, body);
  expect(res.status).toBe(201);
  return ((await res.json()) as { reservation_id: string }).reservation_id;
}

async function release(app: Harness, tenant: string, reservationId: string) {
  const res = await app.asWorker(`/billing/reservations/${reservationId}`, {
    method: 'DELETE',
    headers: { 'tenant-id': tenant },
  });
  expect(res.status).toBe(204);
}

async function activityOf(app: Harness, query: Record<string, string> = {}): Promise<Activity> {
  const res = await app.asAdmin(`/admin/activity?${new URLSearchParams(query)}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Activity;
}

async function refusalsOf(app: Harness, query: Record<string, string> = {}): Promise<RefusalSummary[]> {
  const res = await app.asAdmin(`/admin/refusals?${new URLSearchParams(query)}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { refusals: RefusalSummary[] }).refusals;
}

const bucket = (hour: number, counts: Partial<ActivityBucket>): ActivityBucket => ({
  hour: iso(hour),
  resource: 'deployments',
  grants: 0,
  releases: 0,
  refusals: 0,
  expiries: 0,
  ...counts,
});

describe.each(STORE_KINDS)('the activity admin API on %s', (kind) => {
  it('shows grants, releases, refusals and expiries in the hour they happened in, of one tenant; a replay is not a second grant', async () => {
    const h = await createHarness({ store: kind });
    const { app, clock, boundary } = beforeNextHour(h);
    const tenant = await h.tenant('free', { overrides: { self_hosted_workers: 2 } });
    const other = await h.tenant('free');

    // The hour before the boundary: a grant (and its replay), a refusal at the limit, a release.
    const first = await granted(app, tenant, { idempotency_key: 'first' });
    expect((await reserve(app, tenant, { idempotency_key: 'first' })).status).toBe(201);
    expect((await reserve(app, tenant, { idempotency_key: 'second' })).status).toBe(409);
    await release(app, tenant, first);
    await granted(app, other, { idempotency_key: 'other' });

    await clock.advance(10_000);
    // The next hour: a lease that ran out, found by its release; a worker granted and released.
    const leased = await granted(app, tenant, { idempotency_key: 'leased', lease_seconds: 60 });
    await h.db.execute(
      sql`update reservation set expires_at = clock_timestamp() - interval '1 second' where id = ${leased}`,
    );
    await release(app, tenant, leased);
    const worker = await granted(app, tenant, { resource: 'self_hosted_workers', idempotency_key: 'w' });
    await release(app, tenant, worker);
    await release(app, tenant, worker);

    const answer = await activityOf(app, { tenant_id: tenant });
    expect(answer).toEqual({
      from: iso(boundary + HOUR - 168 * HOUR),
      to: iso(boundary + HOUR),
      buckets: [
        bucket(boundary - HOUR, { grants: 1, releases: 1, refusals: 1 }),
        bucket(boundary, { grants: 1, expiries: 1 }),
        bucket(boundary, { resource: 'self_hosted_workers', grants: 1, releases: 1 }),
      ],
    });
    // `hours=1`: the current hour only.
    expect((await activityOf(app, { tenant_id: tenant, hours: '1' })).buckets).toEqual(
      answer.buckets.slice(1),
    );
    expect((await activityOf(app, { tenant_id: tenant, hours: '1' })).from).toBe(iso(boundary));
    // Every tenant, summed: the other tenant's grant is in the first hour too.
    expect((await activityOf(app)).buckets).toEqual([
      bucket(boundary - HOUR, { grants: 2, releases: 1, refusals: 1 }),
      ...answer.buckets.slice(1),
    ]);
    // The same over tRPC.
    const res = await app.asAdmin(trpcPath('admin.getActivity', { tenant_id: tenant, hours: 2 }));
    expect(res.status).toBe(200);
    const trpc = (await res.json()) as { result: { data: Activity } };
    expect(trpc.result.data.buckets).toEqual(answer.buckets);
  });

  it('answers no buckets for a tenant without activity, or an unknown one', async () => {
    const h = await createHarness({ store: kind });
    const { app, boundary } = beforeNextHour(h);
    const tenant = await h.tenant('free');
    const answer = await activityOf(app, { tenant_id: tenant, hours: '720' });
    expect(answer).toEqual({ from: iso(boundary - 720 * HOUR), to: iso(boundary), buckets: [] });
    expect((await activityOf(app, { tenant_id: 'org-nobody-at-all' })).buckets).toEqual([]);
    expect(await refusalsOf(app)).toEqual([]);
  });

  it('ranks refusals: most first, then the latest; `limit` and `hours` respected', async () => {
    const h = await createHarness({ store: kind });
    const { app, clock, boundary } = beforeNextHour(h);
    // A limit of 0: every reservation is refused.
    const [many, early, late] = [
      await h.tenant('free', { overrides: { deployments: 0 } }),
      await h.tenant('free', { overrides: { deployments: 0 } }),
      await h.tenant('free', { overrides: { deployments: 0, self_hosted_workers: 0 } }),
    ] as [string, string, string];
    for (let i = 0; i < 3; i++)
      expect((await reserve(app, many, { idempotency_key: `m${i}` })).status).toBe(409);
    expect((await reserve(app, early, { idempotency_key: 'e' })).status).toBe(409);
    await clock.advance(10_000);
    expect((await reserve(app, late, { idempotency_key: 'l' })).status).toBe(409);
    expect(
      (await reserve(app, late, { resource: 'self_hosted_workers', idempotency_key: 'lw' })).status,
    ).toBe(409);
    // A preflight check that says no is no refusal.
    const check = await app.asWorker('/billing/checks', {
      ...json({ checks: [{ resource: 'deployments', quantity: 1 }] }),
      headers: { 'content-type': 'application/json', 'tenant-id': early },
    });
    expect(check.status).toBe(200);

    const all = await refusalsOf(app);
    const sorted = <T extends { tenant_id: string; resource: string }>(rows: T[]) =>
      [...rows].sort((a, b) => (a.tenant_id + a.resource < b.tenant_id + b.resource ? -1 : 1));
    expect(all[0]).toEqual({
      tenant_id: many,
      resource: 'deployments',
      refusals: 3,
      last_hour: iso(boundary - HOUR),
    });
    // Then one refusal each: the latest hour first (late's two resources, by resource), then early.
    expect(all.slice(1)).toEqual([
      { tenant_id: late, resource: 'deployments', refusals: 1, last_hour: iso(boundary) },
      { tenant_id: late, resource: 'self_hosted_workers', refusals: 1, last_hour: iso(boundary) },
      { tenant_id: early, resource: 'deployments', refusals: 1, last_hour: iso(boundary - HOUR) },
    ]);
    expect(await refusalsOf(app, { limit: '2' })).toEqual(all.slice(0, 2));
    // The current hour only.
    expect(sorted(await refusalsOf(app, { hours: '1' }))).toEqual(sorted(all.slice(1, 3)));
  });

  it("shows another replica's counts once it has flushed them (every few seconds), its own at once", async () => {
    const h = await createHarness({ store: kind });
    const tenant = await h.tenant('free');
    // This replica flushes every 50 ms; the reading one never does but before a read. Its clock
    // stands still (the hour is known); the tokens signed after it say a later second.
    const clock = testClock(Date.now());
    const replica = h.withApp({
      config: { clockToleranceSeconds: 60 },
      dependencies: { now: clock.now, activity: { flushMs: 50 } },
    });
    await granted(replica, tenant, { idempotency_key: 'r' });
    await eventually(async () => (await activityOf(h, { tenant_id: tenant })).buckets.length === 1);
    expect((await activityOf(h, { tenant_id: tenant })).buckets).toEqual([
      bucket(hourOf(clock.now()), { grants: 1 }),
    ]);
  });
});

describe('the activity rollup of an app', () => {
  /** A store whose activity is recorded, and whose close runs what the app registered. */
  async function recordingStore(h: Harness) {
    const added: TenantActivity[][] = [];
    const lastWork: (() => Promise<unknown>)[] = [];
    const closing = new AbortController();
    const store: BillingStore = {
      ...h.store,
      closing: closing.signal,
      activity: {
        ...h.store.activity,
        async add(entries) {
          added.push(entries.map((entry) => ({ ...entry })));
        },
      },
      beforeClose: (work) => lastWork.push(work),
    };
    const close = async () => {
      closing.abort();
      await Promise.all(lastWork.map((work) => work()));
    };
    return { store, added, close };
  }

  it('flushes its last counts when the store closes: a graceful shutdown loses none', async () => {
    const h = await createHarness({ store: 'pglite' });
    const { store, added, close } = await recordingStore(h);
    // No periodic flush within the test: only the close hands them over.
    const clock = testClock(Date.now());
    const app = h.withApp({
      config: { clockToleranceSeconds: 60 },
      dependencies: { store, now: clock.now, activity: { flushMs: 3_600_000 } },
    });
    const tenant = await h.tenant('free');
    await granted(app, tenant, { idempotency_key: 'k' });
    expect((await reserve(app, tenant, { idempotency_key: 'k2' })).status).toBe(409);
    expect(added).toEqual([]);
    await close();
    expect(added).toEqual([
      [
        {
          tenantId: tenant,
          resource: 'deployments',
          hour: new Date(hourOf(clock.now())),
          grants: 1,
          releases: 0,
          refusals: 1,
          expiries: 0,
        },
      ],
    ]);
  });

  it('counts a refusal without a round trip to the activity table: nothing is written until the flush', async () => {
    const h = await createHarness({ store: 'pglite' });
    const { store, added } = await recordingStore(h);
    const app = h.withApp({ dependencies: { store, activity: { flushMs: 20 } } });
    const tenant = await h.tenant('free', { overrides: { deployments: 0 } });
    expect((await reserve(app, tenant, { idempotency_key: 'k' })).status).toBe(409);
    expect(added).toEqual([]);
    await eventually(() => added.length === 1);
    expect(added[0]).toMatchObject([{ tenantId: tenant, refusals: 1, grants: 0 }]);
  });
});
