/**
 * The client package's own behaviour (packages/client/src), over the app in process: `limits()`
 * answering from its memory when the service cannot, as `onUnavailable` says; `reserve()` retrying
 * with the same idempotency key, so a lost answer is never a second grant; `renew()` retrying what
 * went unanswered and never a refusal (a 409 `reservation_expired` above all); timeouts, token
 * rotation and refused options. The package as a caller installs it is tested in package.test.ts.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type BillingClient,
  type BillingClientOptions,
  conflictCodeOf,
  createBillingClient,
  isBillingClientError,
  isUnavailable,
} from '../../packages/client/src/index.js';
import type { BillingStore } from '../../src/domain/store.js';
import { type Harness, useHarness } from '../support/harness.js';

/** How one request fares on its way; `up` reaches the app and brings its answer back. */
type Leg = 'up' | 'down' | 'lose-answer' | 'hang' | { via: Harness };

/**
 * A network between the client and the app, scripted per request: each request takes the next leg
 * queued (then `up`). `down` fails before the app sees the request; `lose-answer` lets the app do
 * the work and then fails, as a connection dropped after the write; `hang` never answers.
 */
function scriptedNetwork(h: Harness) {
  const queue: Leg[] = [];
  const requests: { path: string; body: string | undefined }[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    requests.push({ path: url.pathname, body: typeof init?.body === 'string' ? init.body : undefined });
    const leg = queue.shift() ?? 'up';
    if (leg === 'down') throw new TypeError('fetch failed');
    if (leg === 'hang') {
      return new Promise((_, reject) => {
        const signal = init?.signal;
        if (signal?.aborted) reject(signal.reason);
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    }
    const app = typeof leg === 'object' ? leg.via : h;
    const response = await app.app.request(`${url.pathname}${url.search}`, init);
    if (leg === 'lose-answer') throw new TypeError('fetch failed');
    return response;
  };
  return {
    fetch,
    requests,
    next: (...legs: Leg[]) => queue.push(...legs),
    /** How many requests went to the tRPC procedure `procedure` (`billing.renew`), retries included. */
    callsTo: (procedure: string) =>
      requests.filter((request) => request.path.endsWith(`/${procedure}`)).length,
    /** The idempotency keys the reservation requests carried, in order. */
    reservationKeys: () =>
      requests
        .filter((request) => request.path.endsWith('/billing.reserve'))
        .map((request) => (JSON.parse(request.body ?? '{}') as { idempotency_key?: string }).idempotency_key),
  };
}

function clientOver(h: Harness, options: Partial<BillingClientOptions> = {}) {
  const network = scriptedNetwork(h);
  const client = createBillingClient({
    url: 'http://billing.test',
    token: () => h.workerToken(),
    fetch: network.fetch,
    retry: { initialDelayMs: 1, maxDelayMs: 5 },
    ...options,
  });
  return { client, network };
}

/** The error a call was rejected with. */
async function rejectionOf(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => {
      throw new Error('the call succeeded');
    },
    (error: unknown) => error,
  );
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('limits(): the service, else what onUnavailable says', () => {
  const h = useHarness({ store: 'pglite' });

  /** The same app with a store that cannot be reached: every limits call is a 503. */
  const storeDown = () => {
    const unreachable = () => Promise.reject(new Error('connection refused'));
    const store: BillingStore = { ...h.store, tenants: { ...h.store.tenants, findTenant: unreachable } };
    return h.withApp({ dependencies: { store } });
  };

  it("answers the service's limits, saying so and when", async () => {
    const tenantId = await h.tenant('growth');
    const { client } = clientOver(h);
    const before = Date.now();
    const answer = await client.limits({ tenantId });
    expect(answer).toMatchObject({
      tenant_id: tenantId,
      limits: await h.limits(tenantId),
      source: 'service',
    });
    expect(answer.fetchedAt?.getTime()).toBeGreaterThanOrEqual(before);
    expect(answer.fetchedAt?.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('by default answers the last answer when the network fails or the service answers 503', async () => {
    const tenantId = await h.tenant('growth');
    const { client, network } = clientOver(h);
    const first = await client.limits({ tenantId });

    network.next('down');
    const offline = await client.limits({ tenantId });
    expect(offline).toMatchObject({ source: 'last-known', limits: first.limits, fetchedAt: first.fetchedAt });
    expect(offline.source === 'last-known' && isUnavailable(offline.unavailable)).toBe(true);
    expect(offline.source === 'last-known' && offline.unavailable.data).toBeUndefined();

    network.next({ via: storeDown() });
    const degraded = await client.limits({ tenantId });
    expect(degraded).toMatchObject({
      source: 'last-known',
      limits: first.limits,
      fetchedAt: first.fetchedAt,
    });
    expect(degraded.source === 'last-known' && degraded.unavailable.data).toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
      httpStatus: 503,
    });
  });

  it('throws the failure when nothing was remembered, or the memory is older than maxStaleMs', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const tenantId = await h.tenant('free');
    const { client, network } = clientOver(h, { maxStaleMs: 60_000 });

    network.next('down');
    expect(isUnavailable(await rejectionOf(client.limits({ tenantId })))).toBe(true);

    await client.limits({ tenantId });
    vi.setSystemTime(Date.now() + 60_000);
    network.next('down');
    expect(await client.limits({ tenantId })).toMatchObject({ source: 'last-known' });
    vi.setSystemTime(Date.now() + 1);
    network.next('down');
    expect(isUnavailable(await rejectionOf(client.limits({ tenantId })))).toBe(true);
  });

  it("'fail-closed' throws the failure even with an answer remembered", async () => {
    const tenantId = await h.tenant('free');
    const { client, network } = clientOver(h, { onUnavailable: 'fail-closed' });
    await client.limits({ tenantId });
    network.next('down');
    const error = await rejectionOf(client.limits({ tenantId }));
    expect(isBillingClientError(error) && isUnavailable(error)).toBe(true);
  });

  it("'fail-open' answers the last answer while fresh, else unlimited with no plan", async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const tenantId = await h.tenant('free');
    const { client, network } = clientOver(h, { onUnavailable: 'fail-open', maxStaleMs: 1_000 });
    const first = await client.limits({ tenantId });

    network.next('down');
    expect(await client.limits({ tenantId })).toMatchObject({ source: 'last-known', limits: first.limits });

    vi.setSystemTime(Date.now() + 1_001);
    network.next('down');
    const open = await client.limits({ tenantId });
    expect(open).toMatchObject({
      tenant_id: tenantId,
      limits: { deployments: null, self_hosted_workers: null, plan_type: null },
      source: 'fail-open',
      fetchedAt: null,
    });
    expect(open.source === 'fail-open' && isUnavailable(open.unavailable)).toBe(true);
  });

  it('throws an answer (401, 400, 404) as is, whatever is remembered, and forgets a tenant the service does not know', async () => {
    const tenantId = await h.tenant('free');
    let token = await h.workerToken();
    const { client, network } = clientOver(h, { token: () => token, onUnavailable: 'fail-open' });
    await client.limits({ tenantId });

    token = 'not-a-token';
    const unauthorized = await rejectionOf(client.limits({ tenantId }));
    expect(isBillingClientError(unauthorized) && unauthorized.data?.code).toBe('UNAUTHORIZED');
    token = await h.workerToken();

    const invalid = await rejectionOf(client.limits({ tenantId: '' }));
    expect(isBillingClientError(invalid) && invalid.data?.httpStatus).toBe(400);

    // The tenant is gone (another store that never had it): 404, and its memory goes with it.
    const elsewhere = h.withApp({
      dependencies: {
        store: { ...h.store, tenants: { ...h.store.tenants, findTenant: async () => undefined } },
      },
    });
    network.next({ via: elsewhere });
    const missing = await rejectionOf(client.limits({ tenantId }));
    expect(isBillingClientError(missing) && missing.data?.code).toBe('NOT_FOUND');
    expect(isUnavailable(missing)).toBe(false);
    network.next('down');
    expect(await client.limits({ tenantId })).toMatchObject({ source: 'fail-open' });
  });

  it('remembers each tenant and plan apart, the most recently answered first when full', async () => {
    const [a, b, c] = [await h.tenant('free'), await h.tenant('growth'), await h.tenant('enterprise')];
    const { client, network } = clientOver(h, { lastKnownMaxEntries: 2 });
    for (const tenantId of [a, b, a, c]) await client.limits({ tenantId });

    network.next('down', 'down', 'down');
    expect(await client.limits({ tenantId: a })).toMatchObject({ source: 'last-known', tenant_id: a });
    expect(await client.limits({ tenantId: c })).toMatchObject({ source: 'last-known', tenant_id: c });
    expect(isUnavailable(await rejectionOf(client.limits({ tenantId: b })))).toBe(true);

    // Another plan for the same tenant is another question (the service may trust the header's plan).
    network.next('down');
    expect(isUnavailable(await rejectionOf(client.limits({ tenantId: a, planType: 'growth' })))).toBe(true);
  });

  it('gives a hanging request up after timeoutMs, as unavailable', async () => {
    const tenantId = await h.tenant('free');
    const { client, network } = clientOver(h, { timeoutMs: 50 });
    const first = await client.limits({ tenantId });
    network.next('hang');
    const answer = await client.limits({ tenantId });
    expect(answer).toMatchObject({ source: 'last-known', limits: first.limits });
    expect(answer.source === 'last-known' && (answer.unavailable.cause as Error | undefined)?.name).toBe(
      'TimeoutError',
    );
  });

  it('gives a hanging request up after timeoutMs even when garbage is collected meanwhile', async () => {
    // Node's timeout signals inside AbortSignal.any() can be collected before they fire
    // (nodejs/node#57736): the request would then hang for ever. The test collects all the time.
    setFlagsFromString('--expose-gc');
    const collect = runInNewContext('gc') as () => void;
    const tenantId = await h.tenant('free');
    const { client, network } = clientOver(h, { timeoutMs: 50, onUnavailable: 'fail-open' });
    network.next('hang');
    const collecting = setInterval(collect, 5);
    try {
      const answer = await Promise.race([
        client.limits({ tenantId }),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('the request was never given up')), 5_000),
        ),
      ]);
      expect(answer.source).toBe('fail-open');
      expect(answer.source === 'fail-open' && (answer.unavailable.cause as Error | undefined)?.name).toBe(
        'TimeoutError',
      );
    } finally {
      clearInterval(collecting);
    }
  });

  it("throws when the caller's own signal aborts, instead of answering from memory", async () => {
    const tenantId = await h.tenant('free');
    const { client, network } = clientOver(h, { onUnavailable: 'fail-open' });
    await client.limits({ tenantId });
    network.next('hang');
    const controller = new AbortController();
    const call = rejectionOf(client.limits({ tenantId }, { signal: controller.signal }));
    controller.abort();
    expect(isBillingClientError(await call)).toBe(true);
  });
});

describe('reserve(): one grant per idempotency key, retried while the service cannot answer', () => {
  const h = useHarness({ store: 'pglite' });

  const usedDeployments = async (tenantId: string) => {
    const res = await h.asWorker('/billing/usage', { headers: { 'tenant-id': tenantId } });
    return ((await res.json()) as { usage: { deployments: { used: number } } }).usage.deployments.used;
  };

  it('generates a key for each call left without one', async () => {
    const tenantId = await h.tenant('growth');
    const { client, network } = clientOver(h);
    const first = await client.reserve({ tenantId, resource: 'deployments' });
    const second = await client.reserve({ tenantId, resource: 'deployments' });
    expect(second.reservation_id).not.toBe(first.reservation_id);
    const [k1, k2] = network.reservationKeys();
    expect(k1).toMatch(/^[0-9a-f-]{36}$/);
    expect(k2).not.toBe(k1);
    expect(await usedDeployments(tenantId)).toBe(2);
  });

  it('retries a failed network with the same key until the service answers', async () => {
    const tenantId = await h.tenant('growth');
    const { client, network } = clientOver(h);
    network.next('down', 'down');
    const reservation = await client.reserve({ tenantId, resource: 'deployments', quantity: 2 });
    expect(reservation).toMatchObject({ resource: 'deployments', quantity: 2, used: 2 });
    const keys = network.reservationKeys();
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
  });

  it('never grants twice when the answer to a granted reservation is lost', async () => {
    const tenantId = await h.tenant('free'); // one deployment allowed, hard limit
    const { client, network } = clientOver(h);
    network.next('lose-answer');
    const reservation = await client.reserve({ tenantId, resource: 'deployments' });
    expect(reservation).toMatchObject({ used: 1, remaining: 0 });
    expect(network.reservationKeys()).toHaveLength(2);
    expect(await usedDeployments(tenantId)).toBe(1);
  });

  it('retries a 503 (store unavailable) with the same key', async () => {
    const tenantId = await h.tenant('growth');
    const unreachable = () => Promise.reject(new Error('connection refused'));
    const store: BillingStore = { ...h.store, usage: { ...h.store.usage, reserve: unreachable } };
    const down = h.withApp({ dependencies: { store } });
    const { client, network } = clientOver(h);
    network.next({ via: down });
    expect(await client.reserve({ tenantId, resource: 'self_hosted_workers' })).toMatchObject({ used: 1 });
    const keys = network.reservationKeys();
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
  });

  it('gives up after retry.attempts tries, throwing the last failure', async () => {
    const tenantId = await h.tenant('growth');
    const { client, network } = clientOver(h, { retry: { attempts: 3, initialDelayMs: 1, maxDelayMs: 1 } });
    network.next('down', 'down', 'down', 'down');
    const error = await rejectionOf(client.reserve({ tenantId, resource: 'deployments' }));
    expect(isBillingClientError(error) && isUnavailable(error)).toBe(true);
    expect(network.reservationKeys()).toHaveLength(3);
    expect(await usedDeployments(tenantId)).toBe(0);
  });

  it('does not retry an answer: 409 past the limit, 422 for a key reused with another request', async () => {
    const tenantId = await h.tenant('free');
    const { client, network } = clientOver(h);
    await client.reserve({ tenantId, resource: 'deployments', idempotency_key: 'k-1' });
    const exceeded = await rejectionOf(client.reserve({ tenantId, resource: 'deployments' }));
    expect(isBillingClientError(exceeded) && exceeded.data?.code).toBe('CONFLICT');
    expect(conflictCodeOf(exceeded)).toBe('limit_exceeded');
    const reused = await rejectionOf(
      client.reserve({ tenantId, resource: 'self_hosted_workers', idempotency_key: 'k-1' }),
    );
    expect(isBillingClientError(reused) && reused.data?.code).toBe('UNPROCESSABLE_CONTENT');
    expect(conflictCodeOf(reused)).toBeUndefined();
    expect(network.reservationKeys()).toHaveLength(3);
  });

  it("answers the first grant again for the caller's own key", async () => {
    const tenantId = await h.tenant('growth');
    const { client } = clientOver(h);
    const first = await client.reserve({ tenantId, resource: 'deployments', idempotency_key: 'mine' });
    const again = await client.reserve({ tenantId, resource: 'deployments', idempotency_key: 'mine' });
    expect(again).toEqual(first);
    expect(await usedDeployments(tenantId)).toBe(1);
  });

  it('stops retrying when the caller aborts', async () => {
    const tenantId = await h.tenant('growth');
    const { client, network } = clientOver(h, {
      retry: { attempts: 10, initialDelayMs: 60_000, maxDelayMs: 60_000 },
    });
    network.next('down', 'down');
    const controller = new AbortController();
    const call = rejectionOf(
      client.reserve({ tenantId, resource: 'deployments' }, { signal: controller.signal }),
    );
    await vi.waitFor(() => expect(network.reservationKeys()).toHaveLength(1));
    controller.abort();
    expect(isUnavailable(await call)).toBe(true);
    expect(network.reservationKeys()).toHaveLength(1);
  });
});

describe('leases: reserve() with lease_seconds, renew() retried while the service cannot answer', () => {
  const h = useHarness({ store: 'pglite' });

  const LEASE_MS = 60_000;
  /** `expires_at` as milliseconds; fails the test when the reservation has no lease. */
  const expiryOf = ({ expires_at }: { expires_at: string | null }) => {
    if (expires_at === null) throw new Error('the reservation has no lease');
    return Date.parse(expires_at);
  };
  /** Runs `call`, expecting the `expires_at` it answers to be `leaseMs` from some moment during the call. */
  const expiringIn = async (leaseMs: number, call: () => Promise<{ expires_at: string | null }>) => {
    // The database's clock and ours are the same machine's; a second's slack covers rounding.
    const before = Date.now();
    const answer = await call();
    const expiresAt = expiryOf(answer);
    expect(expiresAt).toBeGreaterThanOrEqual(before + leaseMs - 1_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + leaseMs + 1_000);
    return answer;
  };
  const usedWorkers = async (tenantId: string) => {
    const res = await h.asWorker('/billing/usage', { headers: { 'tenant-id': tenantId } });
    return ((await res.json()) as { usage: { self_hosted_workers: { used: number } } }).usage
      .self_hosted_workers.used;
  };
  /** Ends a lease now, as if its time had run out, without waiting (the sweep is off in the harness). */
  const endLease = (reservationId: string) =>
    h.db.execute(
      sql`update reservation set expires_at = now() - interval '1 second' where id = ${reservationId}`,
    );
  /** A store whose renewals cannot reach the database: every renew is a 503. */
  const renewalsDown = () => {
    const unreachable = () => Promise.reject(new Error('connection refused'));
    const store: BillingStore = { ...h.store, usage: { ...h.store.usage, renew: unreachable } };
    return h.withApp({ dependencies: { store } });
  };

  it('reserves with lease_seconds: expires_at is that far ahead; without it, null', async () => {
    const tenantId = await h.tenant('growth');
    const { client } = clientOver(h);
    const leased = await expiringIn(LEASE_MS, () =>
      client.reserve({ tenantId, resource: 'self_hosted_workers', lease_seconds: 60 }),
    );
    expect(leased).toMatchObject({
      resource: 'self_hosted_workers',
      quantity: 1,
      used: 1,
      released_at: null,
    });
    const unleased = await client.reserve({ tenantId, resource: 'self_hosted_workers' });
    expect(unleased.expires_at).toBeNull();
  });

  it('renews to the lease asked for, then to the length last granted, the count unchanged', async () => {
    const tenantId = await h.tenant('growth');
    const { client } = clientOver(h);
    const { reservation_id: reservationId } = await client.reserve({
      tenantId,
      resource: 'self_hosted_workers',
      quantity: 2,
      lease_seconds: 60,
    });
    const longer = await expiringIn(600_000, () =>
      client.renew({ tenantId, reservationId, lease_seconds: 600 }),
    );
    expect(longer).toMatchObject({
      reservation_id: reservationId,
      resource: 'self_hosted_workers',
      quantity: 2,
      used: 2,
      released_at: null,
    });
    await expiringIn(600_000, () => client.renew({ tenantId, reservationId }));
    expect(await usedWorkers(tenantId)).toBe(2);
  });

  it('retries a failed network and a lost answer until the lease is renewed', async () => {
    const tenantId = await h.tenant('growth');
    const { client, network } = clientOver(h);
    const { reservation_id: reservationId } = await client.reserve({
      tenantId,
      resource: 'self_hosted_workers',
      lease_seconds: 60,
    });
    // The second try renews and its answer is lost: the third renews again, which only moves expires_at.
    network.next('down', 'lose-answer');
    await expiringIn(300_000, () => client.renew({ tenantId, reservationId, lease_seconds: 300 }));
    expect(network.callsTo('billing.renew')).toBe(3);
    expect(await usedWorkers(tenantId)).toBe(1);
  });

  it('retries a 503 (store unavailable), and gives up after retry.attempts tries with the last failure', async () => {
    const tenantId = await h.tenant('growth');
    const { client, network } = clientOver(h, { retry: { attempts: 2, initialDelayMs: 1, maxDelayMs: 1 } });
    const { reservation_id: reservationId } = await client.reserve({
      tenantId,
      resource: 'self_hosted_workers',
      lease_seconds: 60,
    });
    const down = renewalsDown();

    network.next({ via: down });
    await expiringIn(LEASE_MS, () => client.renew({ tenantId, reservationId }));
    expect(network.callsTo('billing.renew')).toBe(2);

    network.next({ via: down }, { via: down }, 'up');
    const error = await rejectionOf(client.renew({ tenantId, reservationId }));
    expect(isBillingClientError(error) && error.data).toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
      httpStatus: 503,
    });
    expect(network.callsTo('billing.renew')).toBe(4);
  });

  it('waits between tries a random time up to a bound that doubles from initialDelayMs to maxDelayMs', async () => {
    const tenantId = await h.tenant('growth');
    const { client, network } = clientOver(h, {
      retry: { attempts: 4, initialDelayMs: 40, maxDelayMs: 60 },
    });
    const { reservation_id: reservationId } = await client.reserve({
      tenantId,
      resource: 'self_hosted_workers',
      lease_seconds: 60,
    });
    // Half of each bound: 40, then 80 capped at 60, then 160 capped at 60.
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const timers = vi.spyOn(globalThis, 'setTimeout');
    network.next('down', 'down', 'down');
    await client.renew({ tenantId, reservationId });
    const waits = timers.mock.calls.filter(([, ms]) => ms === 20 || ms === 30).map(([, ms]) => ms);
    expect(waits).toEqual([20, 30, 30]);
    expect(network.callsTo('billing.renew')).toBe(4);
  });

  it('throws a refusal at once, never retried: 409 with its code for the caller, 404', async () => {
    const tenantId = await h.tenant('growth');
    const { client, network } = clientOver(h, { retry: { attempts: 10, initialDelayMs: 1, maxDelayMs: 1 } });
    const reserveWorker = (lease_seconds?: number) =>
      client.reserve({ tenantId, resource: 'self_hosted_workers', lease_seconds });

    const unleased = await reserveWorker();
    const released = await reserveWorker(60);
    await client.billing.release.mutate({ tenantId, reservationId: released.reservation_id });
    const expired = await reserveWorker(60);
    await endLease(expired.reservation_id);
    expect(await usedWorkers(tenantId)).toBe(2);

    const refusals = [];
    for (const reservationId of [
      unleased.reservation_id,
      released.reservation_id,
      expired.reservation_id,
      globalThis.crypto.randomUUID(),
    ]) {
      refusals.push(await rejectionOf(client.renew({ tenantId, reservationId })));
    }
    expect(refusals.map(conflictCodeOf)).toEqual([
      'not_leased',
      'reservation_released',
      'reservation_expired',
      undefined,
    ]);
    const [notLeased, , lapsed, unknown] = refusals;
    expect(isBillingClientError(lapsed) && lapsed.data).toMatchObject({
      code: 'CONFLICT',
      httpStatus: 409,
      detail: { code: 'reservation_expired' },
    });
    expect(isUnavailable(notLeased)).toBe(false);
    expect(isBillingClientError(unknown) && unknown.data).toMatchObject({
      code: 'NOT_FOUND',
      httpStatus: 404,
      detail: 'Reservation not found',
    });
    const tooShort = await rejectionOf(
      client.renew({ tenantId, reservationId: released.reservation_id, lease_seconds: 9 }),
    );
    expect(isBillingClientError(tooShort) && tooShort.data).toMatchObject({
      code: 'BAD_REQUEST',
      httpStatus: 400,
    });
    expect(network.callsTo('billing.renew')).toBe(5);
    // The renewal that found the lease ended released it, once.
    expect(await usedWorkers(tenantId)).toBe(1);
    const res = await h.asWorker('/billing/reservations?state=expired', {
      headers: { 'tenant-id': tenantId },
    });
    const { reservations } = (await res.json()) as { reservations: { reservation_id: string }[] };
    expect(reservations.map((reservation) => reservation.reservation_id)).toEqual([expired.reservation_id]);
  });

  it('answers reservation_expired to the retry of a renewal whose answer was lost after the lease ended', async () => {
    const tenantId = await h.tenant('growth');
    const { client, network } = clientOver(h);
    const { reservation_id: reservationId } = await client.reserve({
      tenantId,
      resource: 'self_hosted_workers',
      lease_seconds: 60,
    });
    await endLease(reservationId);
    network.next('lose-answer');
    const error = await rejectionOf(client.renew({ tenantId, reservationId }));
    expect(conflictCodeOf(error)).toBe('reservation_expired');
    expect(network.callsTo('billing.renew')).toBe(2);
    expect(await usedWorkers(tenantId)).toBe(0);
  });

  it('stops waiting to retry when the caller aborts', async () => {
    const tenantId = await h.tenant('growth');
    const { client, network } = clientOver(h, {
      retry: { attempts: 10, initialDelayMs: 60_000, maxDelayMs: 60_000 },
    });
    const { reservation_id: reservationId } = await client.reserve({
      tenantId,
      resource: 'self_hosted_workers',
      lease_seconds: 60,
    });
    network.next('down', 'down');
    const controller = new AbortController();
    const call = rejectionOf(client.renew({ tenantId, reservationId }, { signal: controller.signal }));
    await vi.waitFor(() => expect(network.callsTo('billing.renew')).toBe(1));
    controller.abort();
    expect(isUnavailable(await call)).toBe(true);
    expect(network.callsTo('billing.renew')).toBe(1);
  });
});

describe('the procedures and the token', () => {
  const h = useHarness({ store: 'pglite' });

  it('calls every procedure through tRPC, typed, beside the helpers', async () => {
    const tenantId = await h.tenant('growth');
    const { client } = clientOver(h);
    expect(await client.billing.limits.query({ tenantId })).toEqual({
      tenant_id: tenantId,
      limits: await h.limits(tenantId),
    });
    const admin = createBillingClient({
      url: 'http://billing.test',
      token: () => h.adminToken(),
      fetch: (input, init) => Promise.resolve(h.app.request(String(input), init)),
    });
    expect((await admin.admin.getTenant.query({ tenantId })).plan_id).toBe('growth');
  });

  it('asks the token function for every request, so a rotated token is used at once', async () => {
    const tenantId = await h.tenant('free');
    const tokens = [await h.workerToken(), 'revoked'];
    let asked = 0;
    const { client } = clientOver(h, { token: () => tokens[asked++ % 2] ?? '' });
    expect((await client.limits({ tenantId })).source).toBe('service');
    const error = await rejectionOf(client.limits({ tenantId }));
    expect(isBillingClientError(error) && error.data?.code).toBe('UNAUTHORIZED');
    expect(asked).toBe(2);
  });
});

describe('options that cannot work are refused when the client is made', () => {
  const base: BillingClientOptions = { url: 'http://127.0.0.1:8000', token: 't' };
  it.each<{ override: object; message: string }>([
    {
      override: { url: 'localhost:8000' },
      message: 'url must be an absolute http(s) URL, got "localhost:8000"',
    },
    {
      override: { url: 'ftp://billing' },
      message: 'url must be an absolute http(s) URL, got "ftp://billing"',
    },
    { override: { token: '' }, message: 'token must be a non-empty string or a function returning one' },
    { override: { timeoutMs: -1 }, message: 'timeoutMs must be a non-negative finite number, got -1' },
    {
      override: { timeoutMs: Number.NaN },
      message: 'timeoutMs must be a non-negative finite number, got NaN',
    },
    { override: { maxStaleMs: -5 }, message: 'maxStaleMs must be a non-negative number, got -5' },
    {
      override: { onUnavailable: 'open' },
      message: "onUnavailable must be one of 'last-known', 'fail-closed', 'fail-open'",
    },
    {
      override: { lastKnownMaxEntries: Number.POSITIVE_INFINITY },
      message: 'lastKnownMaxEntries must be a non-negative finite number, got Infinity',
    },
    {
      override: { streamIdleMs: -1 },
      message: 'streamIdleMs must be a non-negative finite number, got -1',
    },
    {
      override: { retry: { attempts: 0 } },
      message: 'retry.attempts must be a whole number of at least 1, got 0',
    },
    {
      override: { retry: { attempts: 1.5 } },
      message: 'retry.attempts must be a whole number of at least 1, got 1.5',
    },
    {
      override: { retry: { maxDelayMs: -1 } },
      message: 'retry.maxDelayMs must be a non-negative finite number, got -1',
    },
  ])('$message', ({ override, message }) => {
    const options = { ...base, ...override } as BillingClientOptions;
    expect(() => createBillingClient(options)).toThrow(new TypeError(`createBillingClient: ${message}`));
  });

  it('takes an unbounded maxStaleMs and no timeout', () => {
    const client: BillingClient = createBillingClient({
      ...base,
      maxStaleMs: Number.POSITIVE_INFINITY,
      timeoutMs: 0,
    });
    expect(typeof client.limits).toBe('function');
  });
});
