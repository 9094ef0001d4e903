/**
 * The limits mirror's bookkeeping (packages/client/src/limits-mirror.ts) with the stream and the
 * fetches in the test's hands, for the orders a real network makes rare: an event arriving while a
 * fetch for the same tenant runs, a fetch spanning a lost stream, a stale tenant made true by an
 * event, a replayed event older than what is kept.
 */
import { describe, expect, it } from 'vitest';
import type { BillingClientError } from '../../packages/client/src/index.js';
import { LimitsMirrorState, type MirroredLimits } from '../../packages/client/src/limits-mirror.js';
import type { FollowHandlers } from '../../packages/client/src/limits-stream.js';

type Limits = MirroredLimits['limits'];
const limits = (deployments: number): Limits => ({
  deployments,
  self_hosted_workers: null,
  plan_type: 'growth',
});

function mirror({ maxEntries = 100 } = {}) {
  let stream: FollowHandlers | undefined;
  const fetches: { tenantId: string; resolve: (answer: MirroredLimits) => void }[] = [];
  const state = new LimitsMirrorState<MirroredLimits, BillingClientError>({
    fetchLimits: (tenantId) => new Promise((resolve) => fetches.push({ tenantId, resolve })),
    follow: (handlers) => {
      stream = handlers;
      return { close() {} };
    },
    onUnavailable: 'last-known',
    maxStaleMs: 60_000,
    maxEntries,
  });
  const handlers = () => {
    if (!stream) throw new Error('the mirror did not follow the stream');
    return stream;
  };
  return {
    state,
    ready: (sequence: number, resumed: boolean) =>
      handlers().onMessage({ type: 'ready', id: String(sequence), data: { sequence, resumed } }),
    changed: (tenantId: string, sequence: number, after: Limits) =>
      handlers().onMessage({
        type: 'limits.changed',
        id: String(sequence),
        data: { tenant_id: tenantId, customer_id: tenantId, sequence, before: null, after, cause: 'admin' },
      } as Parameters<FollowHandlers['onMessage']>[0]),
    down: () => handlers().onDown(new Error('connection reset') as BillingClientError),
    /** Answers the oldest fetch still waiting with `after`. */
    answer: async (after: Limits) => {
      const fetch = fetches.shift();
      if (!fetch) throw new Error('no fetch waits');
      fetch.resolve({ tenant_id: fetch.tenantId, limits: after });
      await Promise.resolve();
    },
    memory: (tenantId: string) => state.fromMemory(tenantId, Date.now()),
  };
}

describe('the limits mirror’s bookkeeping', () => {
  it('keeps the event that came while a fetch ran, not the fetch’s older answer', async () => {
    const m = mirror();
    m.ready(10, false);
    const fetching = m.state.fetch('org-1');
    m.changed('org-1', 11, limits(5));
    await m.answer(limits(1)); // read before the change
    expect((await fetching).answer).toEqual({ tenant_id: 'org-1', limits: limits(1) });
    expect(m.memory('org-1')).toMatchObject({ source: 'mirror', answer: { limits: limits(5) } });
  });

  it('reports, from memory, the time the fetch that brought the answer reported', async () => {
    const m = mirror();
    m.ready(10, false);
    const fetching = m.state.fetch('org-1');
    await m.answer(limits(1));
    const { fetchedAt } = await fetching;
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(m.memory('org-1')).toMatchObject({ source: 'mirror', fetchedAt });
  });

  it('applies an event that comes after the fetch', async () => {
    const m = mirror();
    m.ready(10, false);
    const fetching = m.state.fetch('org-1');
    await m.answer(limits(1));
    await fetching;
    m.changed('org-1', 11, limits(2));
    expect(m.memory('org-1')).toMatchObject({ source: 'mirror', answer: { limits: limits(2) } });
  });

  it('shares one fetch between the callers asking meanwhile', async () => {
    const m = mirror();
    m.ready(10, false);
    const [a, b] = [m.state.fetch('org-1'), m.state.fetch('org-1')];
    await m.answer(limits(3));
    expect(await a).toEqual(await b);
    await expect(m.answer(limits(4))).rejects.toThrow('no fetch waits');
  });

  it('does not trust a fetch that began before the stream was ready, or spanned a lost stream', async () => {
    const m = mirror();
    const early = m.state.fetch('org-1');
    m.ready(10, false);
    await m.answer(limits(1));
    await early;
    expect(m.memory('org-1')).toBeUndefined();

    const again = m.state.fetch('org-1');
    await m.answer(limits(1));
    await again;
    expect(m.memory('org-1')).toMatchObject({ source: 'mirror' });

    const spanning = m.state.fetch('org-2');
    m.down();
    m.ready(12, true);
    await m.answer(limits(2));
    await spanning;
    expect(m.memory('org-2')).toBeUndefined();
    expect(m.memory('org-1')).toMatchObject({ source: 'mirror' });
  });

  it('after a gap the stream could not replay, trusts a tenant again only once fetched or changed', async () => {
    const m = mirror();
    m.ready(10, false);
    for (const tenantId of ['org-1', 'org-2']) {
      const fetching = m.state.fetch(tenantId);
      await m.answer(limits(1));
      await fetching;
    }
    m.down();
    expect(m.memory('org-1')).toMatchObject({ source: 'last-known' });
    m.ready(20, false);
    expect(m.memory('org-1')).toBeUndefined();
    expect(m.memory('org-2')).toBeUndefined();
    // An event carries the whole limits: it makes the tenant true again.
    m.changed('org-2', 21, limits(7));
    expect(m.memory('org-2')).toMatchObject({ source: 'mirror', answer: { limits: limits(7) } });
  });

  it('resumed: keeps what was live; a tenant fetched while the stream was down is fetched again', async () => {
    const m = mirror();
    m.ready(10, false);
    const live = m.state.fetch('org-1');
    await m.answer(limits(1));
    await live;
    m.down();
    const offStream = m.state.fetch('org-2');
    await m.answer(limits(2));
    await offStream;
    expect(m.memory('org-2')).toMatchObject({ source: 'last-known' });
    m.ready(10, true);
    expect(m.memory('org-1')).toMatchObject({ source: 'mirror' });
    expect(m.memory('org-2')).toBeUndefined();
  });

  it('ignores an event older than what it applied, and tenants it does not keep', async () => {
    const m = mirror();
    m.ready(10, false);
    const fetching = m.state.fetch('org-1');
    await m.answer(limits(1));
    await fetching;
    m.changed('org-1', 12, limits(3));
    m.changed('org-1', 11, limits(2));
    m.changed('org-9', 13, limits(9));
    expect(m.memory('org-1')).toMatchObject({ answer: { limits: limits(3) } });
    expect(m.state.size).toBe(1);
  });

  it('keeps nothing with maxEntries 0', async () => {
    const m = mirror({ maxEntries: 0 });
    m.ready(10, false);
    const fetching = m.state.fetch('org-1');
    await m.answer(limits(1));
    await fetching;
    expect(m.state.size).toBe(0);
  });
});
