import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain/errors.js';
import {
  createStoreHealth,
  createStoreReadiness,
  SHARED_CHECK_MAX_MS,
  type StoreHealth,
} from '../../src/domain/store-health.js';
import { testClock } from '../support/harness.js';

const START = Date.parse('2026-12-01T10:00:00Z');

/** What postgres.js and PGlite reject with when no connection can be made. */
const refused = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
/** What the database answers a statement it refuses with: it was reached. */
const sqlFault = () =>
  Promise.reject(
    Object.assign(new Error('relation "x" does not exist'), { code: '42P01', severity: 'ERROR' }),
  );

function deferred<T>() {
  let resolve: (value: T) => void = () => {};
  let reject: (error: unknown) => void = () => {};
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const settled = (health: StoreHealth, operation: () => Promise<unknown>) =>
  health.watch(operation).then(
    () => 'answered',
    (error: unknown) => error,
  );

describe('store health', () => {
  it('starts unreached, counting from the start, until the store first answers', async () => {
    const clock = testClock(START);
    const health = createStoreHealth({ now: clock.now });
    await clock.advance(3_000);
    expect(health.state()).toEqual({
      up: false,
      since: START,
      lastReachedAt: undefined,
      everReached: false,
      unreachableSeconds: 3,
    });
    expect(await settled(health, async () => 1)).toBe('answered');
    expect(health.state()).toEqual({
      up: true,
      since: undefined,
      lastReachedAt: START + 3_000,
      everReached: true,
      unreachableSeconds: 0,
    });
  });

  it('marks the store unreachable from the first lost connection, and up again at the next answer', async () => {
    const clock = testClock(START);
    const health = createStoreHealth({ now: clock.now });
    await health.watch(async () => 'ok');
    await clock.advance(10_000);

    const failure = await settled(health, refused);
    expect(failure).toBeInstanceOf(DomainError);
    expect(failure).toMatchObject({ code: 'store_unavailable', message: 'Limits store unavailable' });
    await clock.advance(5_000);
    await settled(health, refused); // still the same outage: it began at the first failure
    await clock.advance(2_500);
    expect(health.state()).toEqual({
      up: false,
      since: START + 10_000,
      lastReachedAt: START,
      everReached: true,
      unreachableSeconds: 7.5,
    });

    await health.watch(async () => 'ok');
    expect(health.state()).toMatchObject({ up: true, since: undefined, lastReachedAt: START + 17_500 });
    expect(health.state().unreachableSeconds).toBe(0);
  });

  it('takes a refused statement as contact made, not as an outage, and passes the error on as it is', async () => {
    const clock = testClock(START);
    const health = createStoreHealth({ now: clock.now });
    await health.watch(async () => 'ok');
    const failure = await settled(health, sqlFault);
    expect(failure).not.toBeInstanceOf(DomainError);
    expect(failure).toMatchObject({ code: '42P01' });
    expect(health.state().up).toBe(true);
  });

  it('ignores a failure of an operation that began before the store last answered', async () => {
    const clock = testClock(START);
    const health = createStoreHealth({ now: clock.now });
    const queuedDuringOutage = deferred<never>();
    const late = settled(health, () => queuedDuringOutage.promise);
    await clock.advance(1_000);
    await health.watch(async () => 'ok'); // the store is back
    queuedDuringOutage.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
    expect(await late).toBeInstanceOf(DomainError);
    expect(health.state().up).toBe(true);
  });

  it('takes an operation the store did not answer in time as the store unreachable', async () => {
    const clock = testClock(START);
    const health = createStoreHealth({ now: clock.now });
    await health.watch(async () => 'ok');
    await clock.advance(1_000);
    health.unanswered(START + 500);
    expect(health.state()).toMatchObject({ up: false, since: START + 1_000 });
    health.unanswered(START - 1); // began before the last answer: tells nothing
    expect(health.state()).toMatchObject({ up: false, since: START + 1_000 });
  });
});

describe('store readiness', () => {
  /** A store whose ping and migration count a test controls. */
  function storeAt(clockStart = START) {
    const clock = testClock(clockStart);
    const store = {
      down: false,
      pending: 0,
      pings: 0,
      hang: undefined as ReturnType<typeof deferred<void>> | undefined,
      fault: false,
      ping() {
        this.pings++;
        if (this.hang) return this.hang.promise;
        if (this.fault) return sqlFault();
        return this.down ? refused() : Promise.resolve();
      },
      pendingMigrations() {
        return this.down ? refused() : Promise.resolve(this.pending);
      },
    };
    const health = createStoreHealth({ now: clock.now });
    const ready = (staleMaxMs = 60_000) =>
      createStoreReadiness({ store, health, now: clock.now, staleMaxMs, timeoutMs: 50 });
    return { clock, store, health, ready };
  }

  it('is ok while the store answers with every migration applied', async () => {
    const { ready } = storeAt();
    expect(await ready()()).toEqual({ status: 'ok' });
  });

  it('is not ready while migrations are pending', async () => {
    const { store, ready } = storeAt();
    store.pending = 2;
    expect(await ready()()).toEqual({ status: 'migrations_pending', pending: 2 });
  });

  it('stays ready, degraded since the outage began, until it outlasts the stale limit', async () => {
    const { clock, store, ready } = storeAt();
    const readiness = ready(60_000);
    expect(await readiness()).toEqual({ status: 'ok' });
    await clock.advance(5_000);
    store.down = true;
    expect(await readiness()).toEqual({ status: 'degraded', since: START + 5_000 });
    await clock.advance(55_000); // exactly the stale limit since the store last answered
    expect(await readiness()).toEqual({ status: 'degraded', since: START + 5_000 });
    await clock.advance(1);
    expect(await readiness()).toEqual({ status: 'unavailable' });
    store.down = false;
    expect(await readiness()).toEqual({ status: 'ok' });
  });

  it('is not ready when the store never answered since the replica started', async () => {
    const { store, ready } = storeAt();
    store.down = true;
    expect(await ready()()).toEqual({ status: 'unavailable' });
  });

  it('keeps the last migration count while the store is away', async () => {
    const { store, ready } = storeAt();
    const readiness = ready();
    store.pending = 1;
    expect(await readiness()).toEqual({ status: 'migrations_pending', pending: 1 });
    store.down = true;
    expect(await readiness()).toEqual({ status: 'migrations_pending', pending: 1 });
  });

  it('is not ready when the store answers the ping with a fault', async () => {
    const { store, health, ready } = storeAt();
    const readiness = ready();
    expect(await readiness()).toEqual({ status: 'ok' });
    store.fault = true;
    expect(await readiness()).toEqual({ status: 'unavailable' });
    expect(health.state().up).toBe(true);
  });

  it('answers within its timeout when the store hangs, sharing the check in flight', async () => {
    const { clock, store, health, ready } = storeAt();
    const readiness = ready();
    expect(await readiness()).toEqual({ status: 'ok' });
    await clock.advance(1_000);
    store.hang = deferred<void>();
    expect(await readiness()).toEqual({ status: 'degraded', since: START + 1_000 });
    expect(await readiness()).toEqual({ status: 'degraded', since: START + 1_000 });
    expect(store.pings).toBe(2); // the first check, and one for both probes while the store hangs
    // The ping answers at last: the store is back, and a later probe asks the store again.
    const hung = store.hang;
    store.hang = undefined;
    hung.resolve();
    expect(await readiness()).toEqual({ status: 'ok' });
    expect(health.state().up).toBe(true);
    const pings = store.pings;
    expect(await readiness()).toEqual({ status: 'ok' });
    expect(store.pings).toBe(pings + 1);
  });

  it('asks again once a hung check is older than SHARED_CHECK_MAX_MS: a ping that never settles does not pin it', async () => {
    const { clock, store, ready } = storeAt();
    const readiness = ready();
    expect(await readiness()).toEqual({ status: 'ok' });
    store.hang = deferred<void>(); // never settled: a connection whose peer vanished
    expect(await readiness()).toEqual({ status: 'degraded', since: START });
    await clock.advance(SHARED_CHECK_MAX_MS - 1);
    store.hang = undefined; // the store is back, but the hung ping still is in flight
    expect(await readiness()).toEqual({ status: 'degraded', since: START });
    expect(store.pings).toBe(2);
    await clock.advance(1);
    expect(await readiness()).toEqual({ status: 'ok' });
    expect(store.pings).toBe(3);
  });

  it('stays degraded however long the outage when the stale limit is 0 (no limit)', async () => {
    const { clock, store, ready } = storeAt();
    const readiness = ready(0);
    expect(await readiness()).toEqual({ status: 'ok' });
    store.down = true;
    expect(await readiness()).toEqual({ status: 'degraded', since: START });
    await clock.advance(86_400_000);
    expect(await readiness()).toEqual({ status: 'degraded', since: START });
  });
});
