/**
 * `createLimitsMirror()` against the app in process, with real changes written through the store:
 * answers from memory without a round trip, kept true by the change stream; refetched after a gap
 * the stream could not replay; last-known while the stream is down, then the client's
 * `onUnavailable`; a service without a database; bounded memory; close(). The bookkeeping's races
 * (a fetch overtaken by an event, a fetch spanning a lost stream) are in limits-mirror-state.test.ts.
 */
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import {
  type BillingClientOptions,
  createBillingClient,
  isBillingClientError,
  isUnavailable,
  type LimitsMirror,
} from '../../packages/client/src/index.js';
import { type Harness, useHarness } from '../support/harness.js';
import { clientOver, streamNetwork } from './stream-network.js';

function mirrorOver(h: Harness, options: Partial<BillingClientOptions> = {}) {
  const { client, network } = clientOver(h, options);
  const mirror = client.createLimitsMirror();
  onTestFinished(() => mirror.close());
  return { client, mirror, network, limitsCalls: () => network.callsTo('billing.limits').length };
}

/** Polls `check` until it holds (deadline: vi.waitFor's). */
const until = (check: () => unknown) =>
  vi.waitFor(async () => expect(await check()).toBeTruthy(), { timeout: 10_000 });

afterEach(() => {
  vi.useRealTimers();
});

describe('createLimitsMirror()', () => {
  const h = useHarness({ store: 'pglite' });
  const setDeployments = (tenantId: string, deployments: number) =>
    h.store.tenants.putTenant(tenantId, { overrides: { deployments } }, 'test');

  it('answers a tenant from memory after its first use: no round trip', async () => {
    const tenantId = await h.tenant('growth');
    const { mirror, limitsCalls } = mirrorOver(h);
    await until(() => mirror.live);

    const first = await mirror.limits({ tenantId });
    expect(first).toMatchObject({ tenant_id: tenantId, limits: await h.limits(tenantId), source: 'service' });
    for (let i = 0; i < 5; i++) {
      expect(await mirror.limits({ tenantId })).toMatchObject({
        tenant_id: tenantId,
        limits: first.limits,
        source: 'mirror',
        fetchedAt: first.fetchedAt,
      });
    }
    expect(limitsCalls()).toBe(1);
    expect(mirror.size).toBe(1);
  });

  it('takes each change from the stream, still without a round trip', async () => {
    const tenantId = await h.tenant('growth');
    const { mirror, limitsCalls } = mirrorOver(h);
    await until(() => mirror.live);
    await mirror.limits({ tenantId });

    await setDeployments(tenantId, 41);
    await until(async () => (await mirror.limits({ tenantId })).limits.deployments === 41);
    await h.store.tenants.putTenant(tenantId, { plan_id: 'enterprise' }, 'test');
    await until(async () => (await mirror.limits({ tenantId })).limits.plan_type === 'enterprise');
    expect(await mirror.limits({ tenantId })).toMatchObject({
      source: 'mirror',
      limits: await h.limits(tenantId),
    });
    expect(limitsCalls()).toBe(1);
  });

  it('fetches a tenant again after a gap the stream could not replay (ready, resumed: false)', async () => {
    const tenantId = await h.tenant('growth');
    const { mirror, network, limitsCalls } = mirrorOver(h);
    await until(() => mirror.live);
    await mirror.limits({ tenantId });

    network.setDown(true);
    network.cutStreams();
    await until(() => !mirror.live);
    await setDeployments(tenantId, 51);
    // The service no longer has the resume point: it says so, and does not replay the change.
    network.rewriteNextSubscription((input) => ({ ...input, lastEventId: '999999999999' }));
    network.setDown(false);
    await until(() => mirror.live);

    const refetched = await mirror.limits({ tenantId });
    expect(refetched).toMatchObject({ source: 'service', limits: { deployments: 51 } });
    expect(limitsCalls()).toBe(2);
    expect(await mirror.limits({ tenantId })).toMatchObject({
      source: 'mirror',
      limits: { deployments: 51 },
    });
    expect(limitsCalls()).toBe(2);
  });

  it('keeps what it holds after a dropped connection the stream resumes: the missed change replayed', async () => {
    const tenantId = await h.tenant('growth');
    const { mirror, network, limitsCalls } = mirrorOver(h);
    await until(() => mirror.live);
    await mirror.limits({ tenantId });

    network.setDown(true);
    network.cutStreams();
    await until(() => !mirror.live);
    await setDeployments(tenantId, 61);
    network.setDown(false);
    await until(async () => (await mirror.limits({ tenantId })).limits.deployments === 61);
    expect(await mirror.limits({ tenantId })).toMatchObject({ source: 'mirror' });
    expect(limitsCalls()).toBe(1);
  });

  it.each(['last-known', 'fail-open'] as const)(
    "'%s': the last answer while the stream is down, without a round trip, until maxStaleMs; then the policy",
    async (onUnavailable) => {
      const tenantId = await h.tenant('free');
      const { mirror, network, limitsCalls } = mirrorOver(h, { onUnavailable, maxStaleMs: 60_000 });
      await until(() => mirror.live);
      const first = await mirror.limits({ tenantId });
      const beforeLoss = Date.now();
      network.setDown(true);
      network.cutStreams();
      await until(() => !mirror.live);
      const held = await mirror.limits({ tenantId });
      expect(held).toMatchObject({ source: 'last-known', limits: first.limits });
      // Vouched for until the stream was lost, not only when it was fetched.
      const lostAt = held.fetchedAt?.getTime() ?? Number.NaN;
      expect(lostAt).toBeGreaterThanOrEqual(beforeLoss);
      expect(lostAt).toBeLessThanOrEqual(Date.now());
      expect(held.source === 'last-known' && isUnavailable(held.unavailable)).toBe(true);
      expect(limitsCalls()).toBe(1);

      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(lostAt + 60_000);
      expect(await mirror.limits({ tenantId })).toMatchObject({ source: 'last-known' });
      vi.setSystemTime(lostAt + 60_001);
      if (onUnavailable === 'last-known') {
        const error = await mirror.limits({ tenantId }).then(
          () => undefined,
          (failure: unknown) => failure,
        );
        expect(isBillingClientError(error) && isUnavailable(error)).toBe(true);
      } else {
        expect(await mirror.limits({ tenantId })).toMatchObject({
          tenant_id: tenantId,
          limits: { deployments: null, self_hosted_workers: null, plan_type: null },
          source: 'fail-open',
          fetchedAt: null,
        });
      }
      // Past maxStaleMs the service was asked (and could not answer).
      expect(limitsCalls()).toBe(2);
    },
  );

  it("'fail-closed' answers from memory only while the stream is live: down, it asks the service", async () => {
    const tenantId = await h.tenant('free');
    const { mirror, network, limitsCalls } = mirrorOver(h, { onUnavailable: 'fail-closed' });
    await until(() => mirror.live);
    await mirror.limits({ tenantId });
    expect(await mirror.limits({ tenantId })).toMatchObject({ source: 'mirror' });

    network.cutStreams();
    network.setDown(true);
    await until(() => !mirror.live);
    const error = await mirror.limits({ tenantId }).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(isBillingClientError(error) && isUnavailable(error)).toBe(true);
    expect(limitsCalls()).toBe(2);
  });

  it('throws an unknown tenant (404) as limits() does, and keeps nothing of it', async () => {
    const { mirror } = mirrorOver(h);
    await until(() => mirror.live);
    const error = await mirror.limits({ tenantId: 'nobody-here' }).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(isBillingClientError(error) && error.data?.code).toBe('NOT_FOUND');
    expect(mirror.size).toBe(0);
  });

  it('keeps at most lastKnownMaxEntries tenants, the least recently asked going first', async () => {
    const [a, b, c] = [await h.tenant('free'), await h.tenant('growth'), await h.tenant('free')];
    const { mirror, limitsCalls } = mirrorOver(h, { lastKnownMaxEntries: 2 });
    await until(() => mirror.live);
    for (const tenantId of [a, b, a, c]) await mirror.limits({ tenantId });
    expect(mirror.size).toBe(2);
    expect(limitsCalls()).toBe(3);
    expect((await mirror.limits({ tenantId: a })).source).toBe('mirror');
    expect((await mirror.limits({ tenantId: c })).source).toBe('mirror');
    expect((await mirror.limits({ tenantId: b })).source).toBe('service');
  });

  it('close() ends the stream and its reconnects; then it answers as limits() does', async () => {
    const tenantId = await h.tenant('free');
    const { mirror, network, limitsCalls } = mirrorOver(h);
    await until(() => mirror.live);
    await mirror.limits({ tenantId });
    mirror.close();
    expect(mirror.live).toBe(false);
    expect(mirror.size).toBe(0);
    await until(() => network.openStreams === 0);
    const subscriptions = network.callsTo('billing.limitsChanges').length;
    expect(await mirror.limits({ tenantId })).toMatchObject({ source: 'service' });
    expect(limitsCalls()).toBe(2);
    expect(network.callsTo('billing.limitsChanges')).toHaveLength(subscriptions);
  });

  it('closes when its signal aborts, and refuses a signal that is not one', () => {
    const network = streamNetwork(h);
    const client = createBillingClient({ url: 'http://billing.test', token: 't', fetch: network.fetch });
    const controller = new AbortController();
    const mirror: LimitsMirror = client.createLimitsMirror({ signal: controller.signal });
    controller.abort();
    expect(mirror.live).toBe(false);
    expect(() => client.createLimitsMirror({ signal: 'soon' as unknown as AbortSignal })).toThrow(
      new TypeError('createLimitsMirror: signal must be an AbortSignal'),
    );
  });
});

describe('createLimitsMirror() against a service without a database (no stream)', () => {
  const h = useHarness({ store: 'none' });

  it('asks the service every time: nothing vouches for what it would keep', async () => {
    const { mirror, network, limitsCalls } = mirrorOver(h);
    await until(() => network.callsTo('billing.limitsChanges').length > 0);
    expect(await mirror.limits({ tenantId: 'org-1' })).toMatchObject({ source: 'service' });
    expect(await mirror.limits({ tenantId: 'org-1' })).toMatchObject({ source: 'service' });
    expect(limitsCalls()).toBe(2);
    expect(mirror.live).toBe(false);
  });
});
