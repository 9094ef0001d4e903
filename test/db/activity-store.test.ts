/**
 * `usage_activity_hourly` through the store (src/db/activity-store.ts): additive upserts that
 * add up across flushes and replicas, the hourly reads (one tenant, every tenant summed, whole
 * hours in the window only), the refusals ranking, and pruning by hour — on PGlite and PostgreSQL.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivityRollup } from '../../src/domain/usage/activity.js';
import type { TenantActivity } from '../../src/domain/usage/activity-store.js';
import {
  openTestDatabase,
  STORE_KINDS,
  type StoreKind,
  type TestDatabase,
  unique,
} from '../support/harness.js';
import { rowsOf } from '../support/leases.js';

const HOUR = 3_600_000;
/** Hours of their own for each test: a year apart, so that no test reads another's rows. */
let nextBase = Date.parse('2001-01-01T00:00:00.000Z');
const freshHour = () => {
  nextBase += 365 * 24 * HOUR;
  return nextBase;
};

const entry = (
  tenantId: string,
  hour: number,
  counts: Partial<Pick<TenantActivity, 'grants' | 'releases' | 'refusals' | 'expiries'>>,
  resource: TenantActivity['resource'] = 'deployments',
): TenantActivity => ({
  tenantId,
  resource,
  hour: new Date(hour),
  grants: 0,
  releases: 0,
  refusals: 0,
  expiries: 0,
  ...counts,
});

describe.each(STORE_KINDS)('the activity store on %s', (kind: StoreKind) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openTestDatabase(kind);
  });
  afterAll(() => database.close());
  const activity = () => database.store.activity;

  it('adds to what is stored for a tenant × resource × hour, flush after flush, and reads one tenant per hour', async () => {
    const t0 = freshHour();
    const tenant = unique('org-act');
    await activity().add([
      entry(tenant, t0, { grants: 2, refusals: 1 }),
      entry(tenant, t0, { grants: 1 }, 'self_hosted_workers'),
      entry(tenant, t0 + HOUR, { releases: 1 }),
    ]);
    await activity().add([entry(tenant, t0, { grants: 3, releases: 1, refusals: 1, expiries: 4 })]);
    await activity().add([]);
    expect(
      await activity().hourly({ from: new Date(t0), to: new Date(t0 + 2 * HOUR), tenantId: tenant }),
    ).toEqual([
      { hour: new Date(t0), resource: 'deployments', grants: 5, releases: 1, refusals: 2, expiries: 4 },
      {
        hour: new Date(t0),
        resource: 'self_hosted_workers',
        grants: 1,
        releases: 0,
        refusals: 0,
        expiries: 0,
      },
      {
        hour: new Date(t0 + HOUR),
        resource: 'deployments',
        grants: 0,
        releases: 1,
        refusals: 0,
        expiries: 0,
      },
    ]);
  });

  it('reads whole hours from `from` up to `to` (excluded), and sums every tenant when no tenant is named', async () => {
    const t0 = freshHour();
    const [a, b] = [unique('org-act'), unique('org-act')];
    await activity().add([
      entry(a, t0 - HOUR, { grants: 100 }),
      entry(a, t0, { grants: 1, refusals: 2 }),
      entry(b, t0, { grants: 10, expiries: 1 }),
      entry(b, t0 + HOUR, { releases: 7 }),
      entry(b, t0 + 2 * HOUR, { grants: 1_000 }),
    ]);
    const window = { from: new Date(t0), to: new Date(t0 + 2 * HOUR) };
    expect(await activity().hourly(window)).toEqual([
      { hour: new Date(t0), resource: 'deployments', grants: 11, releases: 0, refusals: 2, expiries: 1 },
      {
        hour: new Date(t0 + HOUR),
        resource: 'deployments',
        grants: 0,
        releases: 7,
        refusals: 0,
        expiries: 0,
      },
    ]);
    expect(await activity().hourly({ ...window, tenantId: a })).toEqual([
      { hour: new Date(t0), resource: 'deployments', grants: 1, releases: 0, refusals: 2, expiries: 0 },
    ]);
    expect(await activity().hourly({ ...window, tenantId: unique('org-nobody') })).toEqual([]);
  });

  it('ranks refusals: most first, then the latest hour, then by tenant and resource; at most `limit`; none without a refusal', async () => {
    const t0 = freshHour();
    const prefix = unique('org-ref');
    // Named so that their order is known where refusals and hours tie: a < b.
    const [many, late, early, a, b, quiet] = ['many', 'late', 'early', 'a', 'b', 'quiet'].map(
      (name) => `${prefix}-${name}`,
    ) as [string, string, string, string, string, string];
    await activity().add([
      entry(b, t0, { refusals: 1 }),
      entry(many, t0, { refusals: 3 }),
      entry(many, t0 + HOUR, { refusals: 2 }),
      entry(late, t0 + 2 * HOUR, { refusals: 2 }),
      entry(early, t0, { refusals: 2 }),
      entry(a, t0, { refusals: 1 }, 'self_hosted_workers'),
      entry(a, t0, { refusals: 1 }),
      entry(quiet, t0, { grants: 50 }),
      // Before the window: not counted, and not the latest hour.
      entry(b, t0 - HOUR, { refusals: 40 }),
      // After it (a replica's clock ahead): not counted either.
      entry(quiet, t0 + 3 * HOUR, { refusals: 40 }),
    ]);
    const window = { from: new Date(t0), to: new Date(t0 + 3 * HOUR) };
    const ranked = [
      { tenantId: many, resource: 'deployments', refusals: 5, lastHour: new Date(t0 + HOUR) },
      { tenantId: late, resource: 'deployments', refusals: 2, lastHour: new Date(t0 + 2 * HOUR) },
      { tenantId: early, resource: 'deployments', refusals: 2, lastHour: new Date(t0) },
      { tenantId: a, resource: 'deployments', refusals: 1, lastHour: new Date(t0) },
      { tenantId: a, resource: 'self_hosted_workers', refusals: 1, lastHour: new Date(t0) },
      { tenantId: b, resource: 'deployments', refusals: 1, lastHour: new Date(t0) },
    ];
    expect(await activity().refusals({ ...window, limit: 10 })).toEqual(ranked);
    expect(await activity().refusals({ ...window, limit: 2 })).toEqual(ranked.slice(0, 2));
  });

  it('prunes the rows of hours before a time, at most `limit` at a time', async () => {
    const t0 = freshHour();
    const tenant = unique('org-prune');
    await activity().add([
      entry(tenant, t0 - 2 * HOUR, { grants: 1 }),
      entry(tenant, t0 - HOUR, { grants: 1 }),
      entry(tenant, t0 - HOUR, { grants: 1 }, 'self_hosted_workers'),
      entry(tenant, t0, { grants: 1 }),
    ]);
    const hoursOf = async () =>
      (
        await rowsOf(
          database.db,
          sql`select hour from usage_activity_hourly where organization_id = ${tenant} order by hour, resource`,
        )
      ).map((row) => new Date(row['hour'] as string | Date).getTime());
    // Other tests' rows are older still (earlier years): prune only up to this test's own first hour first.
    expect(await activity().prune(new Date(t0 - 2 * HOUR), 1_000)).toBeGreaterThanOrEqual(0);
    expect(await hoursOf()).toEqual([t0 - 2 * HOUR, t0 - HOUR, t0 - HOUR, t0]);
    expect(await activity().prune(new Date(t0), 2)).toBe(2);
    expect(await activity().prune(new Date(t0), 1_000)).toBe(1);
    expect(await hoursOf()).toEqual([t0]);
    expect(await activity().prune(new Date(t0), 1_000)).toBe(0);
  });

  it('refuses a negative count (the CHECK), writing nothing of the statement', async () => {
    const t0 = freshHour();
    const tenant = unique('org-neg');
    await expect(
      activity().add([entry(tenant, t0, { grants: 1 }), entry(tenant, t0 + HOUR, { releases: -1 })]),
    ).rejects.toThrow();
    expect(
      await activity().hourly({ from: new Date(t0), to: new Date(t0 + 2 * HOUR), tenantId: tenant }),
    ).toEqual([]);
  });

  it('takes thousands of rows in one flush (one bind parameter, whatever the number of rows)', async () => {
    const t0 = freshHour();
    const prefix = unique('org-bulk');
    const entries = Array.from({ length: 12_000 }, (_, i) => entry(`${prefix}-${i}`, t0, { grants: 1 }));
    await activity().add(entries);
    expect(await activity().hourly({ from: new Date(t0), to: new Date(t0 + HOUR) })).toEqual([
      { hour: new Date(t0), resource: 'deployments', grants: 12_000, releases: 0, refusals: 0, expiries: 0 },
    ]);
  });

  it('two rollups flushing the same tenant × resource × hour add up (two replicas on PostgreSQL, concurrently)', async () => {
    const t0 = freshHour();
    const tenant = unique('org-two');
    const replica = kind === 'postgres' ? await database.openReplica() : database.store;
    const first = createActivityRollup({ store: database.store.activity, now: () => t0 + 10 });
    const second = createActivityRollup({ store: replica.activity, now: () => t0 + 20 });
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 3; i++) first.record(tenant, 'deployments', 'grants');
      for (let i = 0; i < 2; i++) second.record(tenant, 'deployments', 'refusals');
      second.record(tenant, 'deployments', 'grants');
      await Promise.all([first.flush(), second.flush()]);
    }
    expect(await first.hourly({ hours: 1, tenantId: tenant })).toEqual({
      from: new Date(t0),
      to: new Date(t0 + HOUR),
      buckets: [
        { hour: new Date(t0), resource: 'deployments', grants: 20, releases: 0, refusals: 10, expiries: 0 },
      ],
    });
  });

  it('close runs the work registered before it (a last flush) while the database is still open, once', async () => {
    const own = await openTestDatabase(kind);
    const t0 = freshHour();
    const tenant = unique('org-close');
    const seen: unknown[] = [];
    let runs = 0;
    own.store.beforeClose(async () => {
      runs++;
      expect(own.store.closing.aborted).toBe(true);
      await own.store.activity.add([entry(tenant, t0, { grants: 1 })]);
      seen.push(
        await own.store.activity.hourly({ from: new Date(t0), to: new Date(t0 + HOUR), tenantId: tenant }),
      );
    });
    // A failing one does not stop the close, nor the others.
    own.store.beforeClose(() => Promise.reject(new Error('flush failed')));
    await own.close();
    await own.store.close();
    expect(runs).toBe(1);
    expect(seen).toEqual([
      [{ hour: new Date(t0), resource: 'deployments', grants: 1, releases: 0, refusals: 0, expiries: 0 }],
    ]);
  });
});
