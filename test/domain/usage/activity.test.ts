/**
 * The activity rollup's accumulator, on a store of the test's own: what is counted in which UTC
 * hour (by the rollup's clock), that a flush hands everything over once and empties the map, that
 * a failed flush keeps its counts for the next one, and what the reads ask the store for. The
 * usage service's side — which outcomes are counted, a replay not again — on the real store.
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../../src/domain/errors.js';
import { createActivityRollup, hourOf } from '../../../src/domain/usage/activity.js';
import type {
  ActivityKind,
  ActivityStore,
  TenantActivity,
} from '../../../src/domain/usage/activity-store.js';
import { createUsageService } from '../../../src/domain/usage/usage.js';
import { STORE_KINDS, testClock, unique, useHarness } from '../../support/harness.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-12-02T10:00:00.000Z');

/** A store that records what it is given (each `add` a copy) and fails while `failing` is set. */
function recordingStore() {
  const adds: TenantActivity[][] = [];
  const reads: unknown[] = [];
  const prunes: Date[] = [];
  let failing: Error | undefined;
  let pruneBatches: number[] = [];
  const store: ActivityStore = {
    async add(entries) {
      if (failing) throw failing;
      adds.push(entries.map((entry) => ({ ...entry })));
    },
    async hourly(query) {
      reads.push({ hourly: query });
      return [];
    },
    async refusals(query) {
      reads.push({ refusals: query });
      return [];
    },
    async prune(before, limit) {
      prunes.push(before);
      const batch = pruneBatches.shift() ?? 0;
      return Math.min(batch, limit);
    },
  };
  return {
    store,
    adds,
    reads,
    prunes,
    fail(error: Error | undefined) {
      failing = error;
    },
    pruneInBatches(batches: number[]) {
      pruneBatches = batches;
    },
  };
}

const counts = (grants = 0, releases = 0, refusals = 0, expiries = 0) => ({
  grants,
  releases,
  refusals,
  expiries,
});

describe('the activity rollup', () => {
  it('counts each event in the UTC hour it happened in: the last millisecond of an hour and the first of the next apart', async () => {
    const clock = testClock(T0 - 1);
    const { store, adds } = recordingStore();
    const rollup = createActivityRollup({ store, now: clock.now });
    rollup.record('org-a', 'deployments', 'grants');
    await clock.advance(1);
    rollup.record('org-a', 'deployments', 'grants');
    rollup.record('org-a', 'deployments', 'refusals');
    await clock.advance(HOUR - 1);
    rollup.record('org-a', 'deployments', 'releases');
    await clock.advance(1);
    rollup.record('org-a', 'deployments', 'expiries');
    expect(rollup.pending).toBe(3);
    await rollup.flush();
    expect(adds).toEqual([
      [
        { tenantId: 'org-a', resource: 'deployments', hour: new Date(T0 - HOUR), ...counts(1) },
        { tenantId: 'org-a', resource: 'deployments', hour: new Date(T0), ...counts(1, 1, 1) },
        { tenantId: 'org-a', resource: 'deployments', hour: new Date(T0 + HOUR), ...counts(0, 0, 0, 1) },
      ],
    ]);
  });

  it('keeps tenants and resources apart, and adds up every kind', async () => {
    const { store, adds } = recordingStore();
    const rollup = createActivityRollup({ store, now: () => T0 + 123 });
    const kinds: ActivityKind[] = [
      'grants',
      'grants',
      'releases',
      'refusals',
      'refusals',
      'refusals',
      'expiries',
    ];
    for (const kind of kinds) rollup.record('org-a', 'self_hosted_workers', kind);
    rollup.record('org-a', 'deployments', 'grants');
    rollup.record('org-b', 'self_hosted_workers', 'grants');
    await rollup.flush();
    expect(adds[0]).toEqual(
      expect.arrayContaining([
        { tenantId: 'org-a', resource: 'self_hosted_workers', hour: new Date(T0), ...counts(2, 1, 3, 1) },
        { tenantId: 'org-a', resource: 'deployments', hour: new Date(T0), ...counts(1) },
        { tenantId: 'org-b', resource: 'self_hosted_workers', hour: new Date(T0), ...counts(1) },
      ]),
    );
    expect(adds[0]).toHaveLength(3);
  });

  it('empties the map when a flush succeeds: the next flush sends nothing, and nothing at all is sent when nothing was counted', async () => {
    const { store, adds } = recordingStore();
    const rollup = createActivityRollup({ store, now: () => T0 });
    await rollup.flush();
    expect(adds).toEqual([]);
    rollup.record('org-a', 'deployments', 'grants');
    await rollup.flush();
    expect(rollup.pending).toBe(0);
    await rollup.flush();
    rollup.record('org-a', 'deployments', 'grants');
    await rollup.flush();
    expect(adds).toEqual([
      [{ tenantId: 'org-a', resource: 'deployments', hour: new Date(T0), ...counts(1) }],
      [{ tenantId: 'org-a', resource: 'deployments', hour: new Date(T0), ...counts(1) }],
    ]);
  });

  it('keeps the counts of a failed flush for the next one, added to what was counted since', async () => {
    const recording = recordingStore();
    const rollup = createActivityRollup({ store: recording.store, now: () => T0 });
    rollup.record('org-a', 'deployments', 'grants');
    rollup.record('org-a', 'deployments', 'refusals');
    const down = new Error('connect ECONNREFUSED');
    recording.fail(down);
    await expect(rollup.flush()).rejects.toBe(down);
    expect(rollup.pending).toBe(1);
    rollup.record('org-a', 'deployments', 'grants');
    rollup.record('org-b', 'deployments', 'refusals');
    recording.fail(undefined);
    await rollup.flush();
    expect(recording.adds).toEqual([
      [
        { tenantId: 'org-a', resource: 'deployments', hour: new Date(T0), ...counts(2, 0, 1) },
        { tenantId: 'org-b', resource: 'deployments', hour: new Date(T0), ...counts(0, 0, 1) },
      ],
    ]);
    expect(rollup.pending).toBe(0);
  });

  it('counts what is recorded while a flush is under way in the next one, and a second flush waits for the first', async () => {
    let release: (() => void) | undefined;
    const adds: TenantActivity[][] = [];
    const store: ActivityStore = {
      ...recordingStore().store,
      async add(entries) {
        adds.push(entries.map((entry) => ({ ...entry })));
        if (adds.length === 1) await new Promise<void>((resolve) => (release = resolve));
      },
    };
    const rollup = createActivityRollup({ store, now: () => T0 });
    rollup.record('org-a', 'deployments', 'grants');
    const first = rollup.flush();
    // The first flush is handing its counts over (its add waits) when the next event comes.
    while (!release) await Promise.resolve();
    rollup.record('org-a', 'deployments', 'grants');
    const second = rollup.flush();
    let secondDone = false;
    void second.then(() => (secondDone = true));
    await Promise.resolve();
    await Promise.resolve();
    // The second has not started: one add so far, and it is not done.
    expect(adds).toHaveLength(1);
    expect(secondDone).toBe(false);
    release?.();
    await Promise.all([first, second]);
    expect(adds).toEqual([
      [{ tenantId: 'org-a', resource: 'deployments', hour: new Date(T0), ...counts(1) }],
      [{ tenantId: 'org-a', resource: 'deployments', hour: new Date(T0), ...counts(1) }],
    ]);
  });

  it('holds at most maxPending keys: an event of a new key past them is dropped and reported, one of a held key still counts', async () => {
    const { store, adds } = recordingStore();
    let dropped = 0;
    const rollup = createActivityRollup({ store, now: () => T0, maxPending: 2, onDropped: () => dropped++ });
    rollup.record('org-a', 'deployments', 'grants');
    rollup.record('org-b', 'deployments', 'grants');
    rollup.record('org-c', 'deployments', 'grants');
    rollup.record('org-a', 'deployments', 'grants');
    expect(dropped).toBe(1);
    expect(rollup.pending).toBe(2);
    await rollup.flush();
    expect(adds[0]).toEqual([
      { tenantId: 'org-a', resource: 'deployments', hour: new Date(T0), ...counts(2) },
      { tenantId: 'org-b', resource: 'deployments', hour: new Date(T0), ...counts(1) },
    ]);
    // Emptied: room again.
    rollup.record('org-c', 'deployments', 'grants');
    expect(dropped).toBe(1);
  });

  it('reads flush first, then ask for whole UTC hours: from the start of the first to the end of the current one', async () => {
    const { store, adds, reads } = recordingStore();
    const rollup = createActivityRollup({ store, now: () => T0 + 30 * 60_000 });
    rollup.record('org-a', 'deployments', 'refusals');
    const hourly = await rollup.hourly({ hours: 3, tenantId: 'org-a' });
    expect(adds).toHaveLength(1);
    expect(hourly).toEqual({ from: new Date(T0 - 2 * HOUR), to: new Date(T0 + HOUR), buckets: [] });
    const refusals = await rollup.refusals({ hours: 1, limit: 5 });
    expect(refusals).toEqual({ from: new Date(T0), to: new Date(T0 + HOUR), refusals: [] });
    expect(reads).toEqual([
      { hourly: { from: new Date(T0 - 2 * HOUR), to: new Date(T0 + HOUR), tenantId: 'org-a' } },
      { refusals: { from: new Date(T0), to: new Date(T0 + HOUR), limit: 5 } },
    ]);
  });

  it('answers store_unavailable when the store cannot be reached for the flush before a read, and keeps the counts', async () => {
    const recording = recordingStore();
    const rollup = createActivityRollup({ store: recording.store, now: () => T0 });
    rollup.record('org-a', 'deployments', 'grants');
    recording.fail(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
    const failure = await rollup.hourly({ hours: 1 }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DomainError);
    expect((failure as DomainError).code).toBe('store_unavailable');
    expect(recording.reads).toEqual([]);
    expect(rollup.pending).toBe(1);
  });

  it('prunes the hours older than 35 days, a batch at a time until one comes back short', async () => {
    const recording = recordingStore();
    const rollup = createActivityRollup({ store: recording.store, now: () => T0 + 59 * 60_000 });
    recording.pruneInBatches([1_000, 1_000, 3]);
    expect(await rollup.prune()).toBe(2_003);
    expect(recording.prunes).toEqual([0, 1, 2].map(() => new Date(T0 - 35 * 24 * HOUR)));
  });

  it('starts hours at whole UTC hours, before the epoch too', () => {
    expect(hourOf(T0 + HOUR - 1)).toBe(T0);
    expect(hourOf(T0)).toBe(T0);
    expect(hourOf(-1)).toBe(-HOUR);
  });
});

describe.each(STORE_KINDS)('what the usage service counts, on %s', (kind) => {
  const h = useHarness({ store: kind });

  /** The service over the harness's store, every counted event in a list. */
  function countingService() {
    const events: [string, string, ActivityKind][] = [];
    const service = createUsageService(h.store.usage, {
      catalog: h.store.tenants,
      onActivity: (tenantId, resource, kind) => events.push([tenantId, resource, kind]),
    });
    return { service, events };
  }

  it('a grant once (its replay not again), a release by its holder once (a second release not), a refusal at the limit', async () => {
    const tenant = await h.tenant('free');
    const { service, events } = countingService();
    const request = { resource: 'deployments', quantity: 1, idempotency_key: 'first' } as const;
    const { reservation } = await service.reserve(tenant, request);
    expect((await service.reserve(tenant, request)).replayed).toBe(true);
    await expect(service.reserve(tenant, { ...request, idempotency_key: 'second' })).rejects.toMatchObject({
      code: 'limit_exceeded',
    });
    // The same key with another request is refused too, but not at the limit: not counted.
    await expect(service.reserve(tenant, { ...request, quantity: 2 })).rejects.toMatchObject({
      code: 'idempotency_key_reused',
    });
    await service.release(tenant, reservation.reservation_id);
    await service.release(tenant, reservation.reservation_id);
    expect(events).toEqual([
      [tenant, 'deployments', 'grants'],
      [tenant, 'deployments', 'refusals'],
      [tenant, 'deployments', 'releases'],
    ]);
  });

  it('a preflight check that says no is not a refusal, and an unknown tenant counts nothing', async () => {
    const tenant = await h.tenant('free');
    const { service, events } = countingService();
    await service.reserve(tenant, { resource: 'deployments', quantity: 1, idempotency_key: 'k' });
    const answer = await service.check(tenant, { checks: [{ resource: 'deployments', quantity: 1 }] });
    expect(answer.results[0]?.allowed).toBe(false);
    await expect(
      service.reserve(unique('nobody'), { resource: 'deployments', quantity: 1, idempotency_key: 'k' }),
    ).rejects.toMatchObject({ code: 'tenant_not_found' });
    expect(events).toEqual([[tenant, 'deployments', 'grants']]);
  });

  it('an expiry once, whichever call found the lease ended: the sweep, a release, a renewal', async () => {
    const tenant = await h.tenant('free');
    const { service, events } = countingService();
    const leased = async (key: string) =>
      (
        await service.reserve(tenant, {
          resource: 'self_hosted_workers',
          quantity: 1,
          idempotency_key: key,
          lease_seconds: 60,
        })
      ).reservation.reservation_id;
    const [swept, released, renewed] = [
      await leased('swept'),
      await leased('released'),
      await leased('renewed'),
    ];
    await h.db.execute(
      sql`update reservation set expires_at = clock_timestamp() - interval '1 second' where organization_id = ${tenant}`,
    );
    await service.expireLeases();
    await service.release(tenant, released).catch(() => undefined);
    await expect(service.renew(tenant, renewed, 60)).rejects.toMatchObject({ code: 'reservation_expired' });
    const ofTenant = events.filter(([id]) => id === tenant);
    expect(ofTenant.filter(([, , kind]) => kind === 'grants')).toHaveLength(3);
    // The sweep released all three (it ran first): each counted once, by the sweep; the release
    // and the renewal found them expired already and count nothing more.
    expect(ofTenant.filter(([, , kind]) => kind === 'expiries')).toHaveLength(3);
    expect(ofTenant.filter(([, , kind]) => kind === 'releases')).toHaveLength(0);
    expect(swept).toBeTruthy();
  });

  it('an expiry found by a release or a renewal before the sweep: counted by the call that released it', async () => {
    const tenant = await h.tenant('free');
    const { service, events } = countingService();
    const leased = async (key: string) =>
      (
        await service.reserve(tenant, {
          resource: 'self_hosted_workers',
          quantity: 1,
          idempotency_key: key,
          lease_seconds: 60,
        })
      ).reservation.reservation_id;
    const released = await leased('released');
    const renewed = await leased('renewed');
    await h.db.execute(
      sql`update reservation set expires_at = clock_timestamp() - interval '1 second' where organization_id = ${tenant}`,
    );
    await service.release(tenant, released);
    await expect(service.renew(tenant, renewed, 60)).rejects.toMatchObject({ code: 'reservation_expired' });
    expect(events.filter(([id]) => id === tenant)).toEqual([
      [tenant, 'self_hosted_workers', 'grants'],
      [tenant, 'self_hosted_workers', 'grants'],
      [tenant, 'self_hosted_workers', 'expiries'],
      [tenant, 'self_hosted_workers', 'expiries'],
    ]);
  });
});
