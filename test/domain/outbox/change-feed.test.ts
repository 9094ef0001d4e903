/**
 * The change feed behind `GET /billing/limits/changes` and `billing.limitsChanges`, on an outbox in
 * memory: `ready` first, the replay after `lastEventId`, the one reader handing live changes to
 * every open stream, the hand-off between a stream's replay and the reader (nothing lost, nothing
 * twice), how streams end, and what a failing store does.
 */
import { getEventListeners } from 'node:events';
import fc from 'fast-check';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { LimitsChangedData } from '../../../src/contract/outbound-webhooks.js';
import {
  type ChangeFeedOptions,
  createLimitsChangeFeed,
  type FollowOptions,
  type LimitsFeedMessage,
} from '../../../src/domain/outbox/change-feed.js';
import { eventually } from '../../support/eventually.js';

type FeedStore = ChangeFeedOptions['store'];
type Position = Awaited<ReturnType<FeedStore['limitsChangesPosition']>>;
interface AfterCall {
  after: number;
  tenantId: string | undefined;
  limit: number;
}

/** Every wait here is for something the feed does within microseconds; the deadline only ends a hang. */
const soon = (check: () => boolean) => eventually(check, 2_000, 2);

/**
 * Lets every pending promise job run. The fake outbox answers without timers, so once a macrotask
 * comes round the feed has done all it will do until something new happens — how a test sees that
 * nothing happened (no read, no message), which no deadline could show.
 */
const settled = () => new Promise<void>((resolve) => setImmediate(resolve));

const changeOf = (sequence: number, tenantId = 'org-1'): LimitsChangedData => ({
  tenant_id: tenantId,
  customer_id: `cus-${tenantId}`,
  sequence,
  before: null,
  after: { deployments: sequence, self_hosted_workers: null, plan_type: 'growth' },
  cause: 'admin',
});

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((yes) => {
    resolve = yes;
  });
  return { promise, resolve };
}

/**
 * The outbox in memory: `limits.changed` events committed in sequence order (with gaps, as other
 * event types share the sequence), a pruned prefix, and every query the feed made. `around.after`
 * / `around.position`, when set, stand between a query and its answer — `answer()` reads the
 * outbox at that moment — so a test can commit, wake, wait or fail at a chosen point of a query.
 */
function fakeOutbox() {
  const outbox = {
    committed: [] as LimitsChangedData[],
    newest: 0,
    prunedThrough: 0,
    afterCalls: [] as AfterCall[],
    positionCalls: 0,
    around: {
      after: undefined as
        | ((
            answer: () => LimitsChangedData[],
            call: AfterCall,
          ) => LimitsChangedData[] | Promise<LimitsChangedData[]>)
        | undefined,
      position: undefined as ((answer: () => Position) => Position | Promise<Position>) | undefined,
    },
    commit(tenantId = 'org-1', gap = 1): LimitsChangedData {
      const change = changeOf(outbox.newest + gap, tenantId);
      outbox.newest = change.sequence;
      outbox.committed.push(change);
      return change;
    },
    /** Deletes the changes up to `sequence`, as retention does. */
    prune(sequence: number) {
      outbox.committed = outbox.committed.filter((change) => change.sequence > sequence);
      outbox.prunedThrough = sequence;
    },
    async limitsChangesAfter(
      after: number,
      { tenantId, limit }: { tenantId?: string | undefined; limit: number },
    ) {
      const call = { after, tenantId, limit };
      outbox.afterCalls.push(call);
      const answer = () =>
        outbox.committed
          .filter(
            (change) => change.sequence > after && (tenantId === undefined || change.tenant_id === tenantId),
          )
          .slice(0, limit);
      return outbox.around.after ? outbox.around.after(answer, call) : answer();
    },
    async limitsChangesPosition() {
      outbox.positionCalls++;
      const answer = () => ({ newest: outbox.newest, prunedThrough: outbox.prunedThrough });
      return outbox.around.position ? outbox.around.position(answer) : answer();
    },
    /** Where the queries since the `from`th started (the reader's, and the replays'). */
    aftersSince(from: number): number[] {
      return outbox.afterCalls.slice(from).map((call) => call.after);
    },
  };
  return outbox;
}
type FakeOutbox = ReturnType<typeof fakeOutbox>;

/** `around.after` for the next query only. */
function onceAfter(
  outbox: FakeOutbox,
  around: (
    answer: () => LimitsChangedData[],
    call: AfterCall,
  ) => LimitsChangedData[] | Promise<LimitsChangedData[]>,
) {
  outbox.around.after = (answer, call) => {
    outbox.around.after = undefined;
    return around(answer, call);
  };
}

/** `around.position` for the `nth` query from now (1: the next) only. */
function onPosition(
  outbox: FakeOutbox,
  nth: number,
  around: (answer: () => Position) => Position | Promise<Position>,
) {
  let calls = 0;
  outbox.around.position = (answer) => {
    calls++;
    if (calls < nth) return answer();
    outbox.around.position = undefined;
    return around(answer);
  };
}

/**
 * A feed on `outbox`, closed when the test ends, recording what it reports. It never polls unless
 * told to, so that a prompt read is a wake's doing.
 */
function openFeed(outbox: FeedStore, options: Partial<Omit<ChangeFeedOptions, 'store' | 'signal'>> = {}) {
  const controller = new AbortController();
  const errors: unknown[] = [];
  const feed = createLimitsChangeFeed({
    store: outbox,
    signal: controller.signal,
    pollMs: 3_600_000,
    onError: (error) => errors.push(error),
    ...options,
  });
  onTestFinished(() => controller.abort());
  return { feed, controller, errors };
}

/** What a stream sent, and whether (and how) it ended, pulled as fast as it sends. */
interface Seen {
  messages: LimitsFeedMessage[];
  done: boolean;
  error: unknown;
}
function consume(stream: AsyncIterable<LimitsFeedMessage>): Seen {
  const seen: Seen = { messages: [], done: false, error: undefined };
  void (async () => {
    try {
      for await (const message of stream) seen.messages.push(message);
    } catch (error) {
      seen.error = error;
    }
    seen.done = true;
  })();
  return seen;
}

/** The sequences of the changes among `messages` (`ready` left out). */
const sequencesOf = (messages: LimitsFeedMessage[]) =>
  messages.flatMap((message) => (message.type === 'limits.changed' ? [message.data.sequence] : []));

const ready = (sequence: number, resumed: boolean): LimitsFeedMessage => ({
  type: 'ready',
  data: { sequence, resumed },
});
const changed = (sequence: number, tenantId = 'org-1'): LimitsFeedMessage => ({
  type: 'limits.changed',
  data: changeOf(sequence, tenantId),
});

/** The stream's next result, or a failure when it does not come: a stream that hangs fails its test. */
const nextOf = (stream: AsyncGenerator<LimitsFeedMessage, void, undefined>) =>
  Promise.race([
    stream.next(),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('no next message within 2 s')), 2_000),
    ),
  ]);

/** A stream of `feed` with its own signal, ended when the test ends. */
function follow(feed: ReturnType<typeof openFeed>['feed'], options: Omit<FollowOptions, 'signal'> = {}) {
  const controller = new AbortController();
  onTestFinished(() => controller.abort());
  return { stream: feed.follow({ ...options, signal: controller.signal }), controller };
}

/** A stream pulled in the background, once it sent `ready` (and its replay, `replayed` changes). */
async function following(
  feed: ReturnType<typeof openFeed>['feed'],
  options: Omit<FollowOptions, 'signal'> = {},
  replayed = 0,
) {
  const { stream, controller } = follow(feed, options);
  const seen = consume(stream);
  await soon(() => seen.messages.length === 1 + replayed);
  // Replayed and waiting for live changes: nothing more is on its way.
  await settled();
  return { seen, controller };
}

describe('createLimitsChangeFeed', () => {
  describe('ready', () => {
    it('without lastEventId is the newest change, not resumed, and nothing before it is replayed', async () => {
      const outbox = fakeOutbox();
      for (let i = 0; i < 3; i++) outbox.commit('org-1', 2);
      const { feed } = openFeed(outbox);
      const { stream } = follow(feed);
      expect(await nextOf(stream)).toEqual({ done: false, value: ready(6, false) });
      outbox.commit();
      feed.wake();
      expect(await nextOf(stream)).toEqual({ done: false, value: changed(7) });
      // The reader and the replay both went on from the newest change, not from the beginning.
      expect(outbox.afterCalls.map((call) => call.after)).toEqual([6, 6]);
    });

    it('of an empty outbox is sequence 0', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox);
      const { stream } = follow(feed);
      expect(await nextOf(stream)).toEqual({ done: false, value: ready(0, false) });
    });

    it.each([
      { lastEventId: 2, replayed: [3, 4, 5], why: 'at the pruned boundary' },
      { lastEventId: 3, replayed: [4, 5], why: 'within the retained changes' },
      { lastEventId: 5, replayed: [], why: 'at the newest change' },
    ])(
      'with lastEventId $lastEventId ($why) resumes exactly after it and replays what followed',
      async ({ lastEventId, replayed }) => {
        const outbox = fakeOutbox();
        for (let i = 0; i < 5; i++) outbox.commit();
        outbox.prune(2);
        const { feed } = openFeed(outbox);
        const { stream } = follow(feed, { lastEventId });
        expect(await nextOf(stream)).toEqual({ done: false, value: ready(lastEventId, true) });
        for (const sequence of replayed) {
          expect(await nextOf(stream)).toEqual({ done: false, value: changed(sequence) });
        }
        outbox.commit();
        feed.wake();
        expect(await nextOf(stream)).toEqual({ done: false, value: changed(6) });
      },
    );

    it('with lastEventId 0 and nothing pruned replays every change', async () => {
      const outbox = fakeOutbox();
      for (let i = 0; i < 3; i++) outbox.commit();
      const { feed } = openFeed(outbox);
      const { seen } = await following(feed, { lastEventId: 0 }, 3);
      expect(seen.messages).toEqual([ready(0, true), changed(1), changed(2), changed(3)]);
    });

    it.each([
      { lastEventId: 1, why: 'before the pruned changes' },
      { lastEventId: 0, why: 'from the beginning, past a pruning' },
      { lastEventId: 6, why: 'after the newest change' },
      { lastEventId: 99, why: 'far after the newest change' },
    ])(
      'with lastEventId $lastEventId ($why) is not resumed: it continues from the newest change, nothing replayed',
      async ({ lastEventId }) => {
        const outbox = fakeOutbox();
        for (let i = 0; i < 5; i++) outbox.commit();
        outbox.prune(2);
        const { feed } = openFeed(outbox);
        const { stream } = follow(feed, { lastEventId });
        expect(await nextOf(stream)).toEqual({ done: false, value: ready(5, false) });
        // The next message is the next change to commit: neither the retained 3..5 nor a gap.
        outbox.commit();
        feed.wake();
        expect(await nextOf(stream)).toEqual({ done: false, value: changed(6) });
      },
    );
  });

  describe('the replay', () => {
    it('sends every change after lastEventId in order, in batches, none twice, then the live ones', async () => {
      const outbox = fakeOutbox();
      for (let i = 0; i < 7; i++) outbox.commit();
      const { feed } = openFeed(outbox, { batchSize: 2 });
      const { seen } = await following(feed, { lastEventId: 0 }, 7);
      expect(seen.messages).toEqual([
        ready(0, true),
        ...[1, 2, 3, 4, 5, 6, 7].map((sequence) => changed(sequence)),
      ]);
      // Queried a batch at a time, each after the last change it sent; a short batch is the end.
      expect(outbox.afterCalls).toEqual(
        [0, 2, 4, 6].map((after) => ({ after, tenantId: undefined, limit: 2 })),
      );
      outbox.commit();
      feed.wake();
      await soon(() => seen.messages.length === 9);
      await settled();
      expect(sequencesOf(seen.messages)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it('of a backlog that fills its last batch asks once more, and sends nothing twice', async () => {
      const outbox = fakeOutbox();
      for (let i = 0; i < 4; i++) outbox.commit();
      const { feed } = openFeed(outbox, { batchSize: 2 });
      const { seen } = await following(feed, { lastEventId: 0 }, 4);
      expect(sequencesOf(seen.messages)).toEqual([1, 2, 3, 4]);
      expect(outbox.afterCalls.map((call) => call.after)).toEqual([0, 2, 4]);
    });

    it('sends only the tenant asked for, and asks the store for only that tenant', async () => {
      const outbox = fakeOutbox();
      for (const tenant of ['org-1', 'org-2', 'org-1', 'org-2', 'org-1']) outbox.commit(tenant);
      const { feed } = openFeed(outbox, { batchSize: 2 });
      const { seen } = await following(feed, { tenantId: 'org-1', lastEventId: 0 }, 3);
      expect(seen.messages).toEqual([ready(0, true), changed(1), changed(3), changed(5)]);
      expect(outbox.afterCalls).toEqual([
        { after: 0, tenantId: 'org-1', limit: 2 },
        { after: 3, tenantId: 'org-1', limit: 2 },
      ]);
    });
  });

  describe('live changes', () => {
    it('are read when the feed is woken, and handed on in order', async () => {
      const outbox = fakeOutbox();
      outbox.commit();
      const { feed } = openFeed(outbox);
      const { seen } = await following(feed);
      const queries = outbox.afterCalls.length;
      outbox.commit();
      outbox.commit('org-1', 3);
      await settled();
      // Not woken, not polled: not read.
      expect(outbox.afterCalls).toHaveLength(queries);
      expect(seen.messages).toEqual([ready(1, false)]);
      feed.wake();
      await soon(() => seen.messages.length === 3);
      await settled();
      expect(seen.messages).toEqual([ready(1, false), changed(2), changed(5)]);
      expect(outbox.afterCalls.slice(queries)).toEqual([{ after: 1, tenantId: undefined, limit: 1_000 }]);
    });

    it('are read once for every open stream, each getting its tenant’s', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox);
      const all = await following(feed);
      const one = await following(feed, { tenantId: 'org-1' });
      const two = await following(feed, { tenantId: 'org-2' });
      expect(feed.subscribers).toBe(3);
      const queries = outbox.afterCalls.length;
      outbox.commit('org-2');
      outbox.commit('org-1');
      outbox.commit('org-2');
      feed.wake();
      await soon(() => all.seen.messages.length === 4);
      await settled();
      expect(all.seen.messages).toEqual([
        ready(0, false),
        changed(1, 'org-2'),
        changed(2),
        changed(3, 'org-2'),
      ]);
      expect(one.seen.messages).toEqual([ready(0, false), changed(2)]);
      expect(two.seen.messages).toEqual([ready(0, false), changed(1, 'org-2'), changed(3, 'org-2')]);
      expect(outbox.afterCalls.slice(queries)).toEqual([{ after: 0, tenantId: undefined, limit: 1_000 }]);
    });

    it('are read a batch at a time until a batch is short, on one wake', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox, { batchSize: 2 });
      const { seen } = await following(feed);
      const queries = outbox.afterCalls.length;
      for (let i = 0; i < 5; i++) outbox.commit();
      feed.wake();
      await soon(() => seen.messages.length === 6);
      await settled();
      expect(sequencesOf(seen.messages)).toEqual([1, 2, 3, 4, 5]);
      expect(outbox.afterCalls.slice(queries).map((call) => call.after)).toEqual([0, 2, 4]);
    });

    it('committed while a read is under way are read right after it when the feed was woken meanwhile', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox);
      const { seen } = await following(feed);
      const queries = outbox.afterCalls.length;
      const gate = deferred();
      const reading = deferred();
      onceAfter(outbox, async (answer) => {
        const changes = answer();
        reading.resolve();
        await gate.promise;
        return changes;
      });
      outbox.commit();
      feed.wake();
      await reading.promise;
      outbox.commit();
      feed.wake();
      feed.wake();
      await settled();
      // One read at a time.
      expect(outbox.aftersSince(queries)).toEqual([0]);
      gate.resolve();
      await soon(() => seen.messages.length === 3);
      await settled();
      expect(sequencesOf(seen.messages)).toEqual([1, 2]);
      expect(outbox.aftersSince(queries)).toEqual([0, 1]);
    });

    it('are picked up by polling, every pollMs, without a wake', async () => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      onTestFinished(() => {
        vi.useRealTimers();
      });
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox, { pollMs: 1_000 });
      const { seen } = await following(feed);
      outbox.commit();
      await vi.advanceTimersByTimeAsync(999);
      await settled();
      expect(seen.messages).toEqual([ready(0, false)]);
      await vi.advanceTimersByTimeAsync(1);
      await soon(() => seen.messages.length === 2);
      expect(seen.messages).toEqual([ready(0, false), changed(1)]);
      outbox.commit();
      await vi.advanceTimersByTimeAsync(1_000);
      await soon(() => seen.messages.length === 3);
      expect(sequencesOf(seen.messages)).toEqual([1, 2]);
    });

    it('are not read while no stream is open: no wake, no poll reads', async () => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      onTestFinished(() => {
        vi.useRealTimers();
      });
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox, { pollMs: 1_000 });
      outbox.commit();
      feed.wake();
      await vi.advanceTimersByTimeAsync(5_000);
      await settled();
      expect(outbox.afterCalls).toEqual([]);
      expect(outbox.positionCalls).toBe(0);
      expect(feed.subscribers).toBe(0);

      // A streak of streams comes and goes: the reader stops with the last one.
      const first = await following(feed);
      const second = await following(feed);
      first.controller.abort();
      await soon(() => first.seen.done);
      expect(feed.subscribers).toBe(1);
      outbox.commit();
      await vi.advanceTimersByTimeAsync(1_000);
      await soon(() => second.seen.messages.length === 2);
      second.controller.abort();
      await soon(() => second.seen.done);
      expect(feed.subscribers).toBe(0);
      const queries = outbox.afterCalls.length;
      const positions = outbox.positionCalls;
      outbox.commit();
      feed.wake();
      await vi.advanceTimersByTimeAsync(5_000);
      await settled();
      expect(outbox.afterCalls).toHaveLength(queries);
      expect(outbox.positionCalls).toBe(positions);
    });

    it('are read from the newest change again when a new streak of streams begins', async () => {
      const outbox = fakeOutbox();
      outbox.commit();
      const { feed } = openFeed(outbox);
      const first = await following(feed);
      // The streak's start, then the stream's own position.
      expect(outbox.positionCalls).toBe(2);
      const second = await following(feed);
      // Joining an open streak: the stream's own position only.
      expect(outbox.positionCalls).toBe(3);
      first.controller.abort();
      second.controller.abort();
      await soon(() => first.seen.done && second.seen.done);
      expect(feed.subscribers).toBe(0);

      outbox.commit();
      outbox.commit();
      const third = await following(feed);
      expect(outbox.positionCalls).toBe(5);
      expect(third.seen.messages).toEqual([ready(3, false)]);
      outbox.commit();
      feed.wake();
      await soon(() => third.seen.messages.length === 2);
      // The reader went on from where this streak began, not where the last one ended.
      expect(outbox.afterCalls.at(-1)?.after).toBe(3);
      await settled();
      expect(third.seen.messages).toEqual([ready(3, false), changed(4)]);
    });

    it('share one start when streams begin a streak together', async () => {
      const outbox = fakeOutbox();
      outbox.commit();
      const { feed } = openFeed(outbox);
      const first = follow(feed);
      const second = follow(feed);
      const [a, b] = await Promise.all([nextOf(first.stream), nextOf(second.stream)]);
      expect(a).toEqual({ done: false, value: ready(1, false) });
      expect(b).toEqual({ done: false, value: ready(1, false) });
      // One start of the streak, and each stream's own position.
      expect(outbox.positionCalls).toBe(3);
      expect(feed.subscribers).toBe(2);
    });

    it('are not read again when the last stream leaves during a read, though it was woken meanwhile', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox);
      const { seen, controller } = await following(feed);
      const queries = outbox.afterCalls.length;
      const gate = deferred();
      onceAfter(outbox, async (answer) => {
        const changes = answer();
        await gate.promise;
        return changes;
      });
      outbox.commit();
      feed.wake();
      await soon(() => outbox.afterCalls.length === queries + 1);
      outbox.commit();
      feed.wake();
      controller.abort();
      await soon(() => seen.done);
      expect(feed.subscribers).toBe(0);
      gate.resolve();
      await settled();
      expect(outbox.afterCalls).toHaveLength(queries + 1);
      expect(seen.messages).toEqual([ready(0, false)]);
    });

    it('answered after their streak ended are dropped: the next streak reads from its own start', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox);
      const first = await following(feed);
      const gate = deferred();
      const reading = deferred();
      onceAfter(outbox, async (answer) => {
        const changes = answer();
        reading.resolve();
        await gate.promise;
        return changes;
      });
      outbox.commit();
      feed.wake();
      await reading.promise;
      first.controller.abort();
      await soon(() => first.seen.done);
      outbox.commit();
      const second = await following(feed);
      expect(second.seen.messages).toEqual([ready(2, false)]);
      // The last streak's answer (1) arrives now: this streak began after it.
      gate.resolve();
      await settled();
      const queries = outbox.afterCalls.length;
      outbox.commit();
      feed.wake();
      await soon(() => second.seen.messages.length === 2);
      expect(outbox.aftersSince(queries)).toEqual([2]);
      await settled();
      expect(second.seen.messages).toEqual([ready(2, false), changed(3)]);
    });

    it('are not read once the feed closed, though a stream not yet pulled is still open', async () => {
      const outbox = fakeOutbox();
      const { feed, controller } = openFeed(outbox);
      const { stream } = follow(feed);
      expect(await nextOf(stream)).toEqual({ done: false, value: ready(0, false) });
      controller.abort();
      expect(feed.subscribers).toBe(1);
      outbox.commit();
      feed.wake();
      await settled();
      expect(outbox.afterCalls).toEqual([]);
      expect(await nextOf(stream)).toEqual({ done: true, value: undefined });
      expect(feed.subscribers).toBe(0);
    });
  });

  describe('the hand-off from replay to live', () => {
    it('sends a change committed right after the stream read its position once (replayed, then skipped live)', async () => {
      const outbox = fakeOutbox();
      for (let i = 0; i < 3; i++) outbox.commit();
      const { feed } = openFeed(outbox);
      // The stream's own position (after the streak's start) answers 3; 4 commits just after.
      onPosition(outbox, 2, (answer) => {
        const position = answer();
        outbox.commit();
        feed.wake();
        return position;
      });
      const { seen } = await following(feed, {}, 1);
      outbox.commit();
      feed.wake();
      await soon(() => seen.messages.length === 3);
      await settled();
      expect(seen.messages).toEqual([ready(3, false), changed(4), changed(5)]);
    });

    it('does not send a change its position already counted, though the reader hands it on', async () => {
      const outbox = fakeOutbox();
      for (let i = 0; i < 3; i++) outbox.commit();
      const { feed } = openFeed(outbox);
      // The streak starts at 3; 4 commits before the stream reads its own position, which answers 4.
      onPosition(outbox, 2, (answer) => {
        outbox.commit();
        return answer();
      });
      const { seen } = await following(feed);
      expect(seen.messages).toEqual([ready(4, false)]);
      const queries = outbox.afterCalls.length;
      // The reader, at 3, reads 4 and hands it on: already behind the stream's start.
      feed.wake();
      await soon(() => outbox.afterCalls.length === queries + 1);
      expect(outbox.aftersSince(queries)).toEqual([3]);
      await settled();
      expect(seen.messages).toEqual([ready(4, false)]);
      outbox.commit();
      feed.wake();
      await soon(() => seen.messages.length === 2);
      await settled();
      expect(seen.messages).toEqual([ready(4, false), changed(5)]);
    });

    it.each([
      { snapshot: 'before', how: 'the replay misses it, the reader sends it' },
      { snapshot: 'after', how: 'the replay sends it, the reader’s copy is skipped' },
    ])(
      'sends a change committed while the replay is asked once, the replay reading $snapshot it ($how)',
      async ({ snapshot }) => {
        const outbox = fakeOutbox();
        for (let i = 0; i < 3; i++) outbox.commit();
        const { feed } = openFeed(outbox);
        const { stream } = follow(feed, { lastEventId: 1 });
        expect(await nextOf(stream)).toEqual({ done: false, value: ready(1, true) });
        const readerDone = deferred();
        onceAfter(outbox, async (answer) => {
          const early = snapshot === 'before' ? answer() : undefined;
          outbox.commit();
          feed.wake();
          // The replay's query, then the reader's.
          await soon(() => outbox.afterCalls.length === 2);
          await settled();
          readerDone.resolve();
          return early ?? answer();
        });
        const seen = consume(stream);
        await readerDone.promise;
        await soon(() => seen.messages.length === 3);
        await settled();
        expect(sequencesOf(seen.messages)).toEqual([2, 3, 4]);
        outbox.commit();
        feed.wake();
        await soon(() => seen.messages.length === 4);
        await settled();
        expect(sequencesOf(seen.messages)).toEqual([2, 3, 4, 5]);
      },
    );

    it.each([
      { lastEventId: undefined, expected: [ready(4, false), changed(5)] },
      { lastEventId: 3, expected: [ready(3, true), changed(4), changed(5)] },
    ])(
      'sends a change the reader is reading while a stream joins once (lastEventId $lastEventId)',
      async ({ lastEventId, expected }) => {
        const outbox = fakeOutbox();
        for (let i = 0; i < 3; i++) outbox.commit();
        const { feed } = openFeed(outbox);
        const early = await following(feed);
        const gate = deferred();
        const reading = deferred();
        onceAfter(outbox, async (answer) => {
          const changes = answer();
          reading.resolve();
          await gate.promise;
          return changes;
        });
        outbox.commit();
        feed.wake();
        await reading.promise;
        // Joins while the reader holds 4 and has not handed it on.
        const late = await following(feed, { lastEventId }, lastEventId === undefined ? 0 : 1);
        gate.resolve();
        await soon(() => early.seen.messages.length === 2);
        outbox.commit();
        feed.wake();
        await soon(() => late.seen.messages.length === expected.length && early.seen.messages.length === 3);
        await settled();
        expect(late.seen.messages).toEqual(expected);
        expect(early.seen.messages).toEqual([ready(3, false), changed(4), changed(5)]);
      },
    );

    it('loses and repeats nothing, whatever the order of commits, wakes, starts, resumes, ends and queries', async () => {
      type Step =
        | { kind: 'commit'; tenantId: string; gap: number }
        | { kind: 'follow'; tenantId: string | undefined; lastEventId: number | undefined }
        | { kind: 'wake' }
        | { kind: 'end'; which: number };
      const tenant = fc.constantFrom('org-1', 'org-2');
      const step: fc.Arbitrary<Step> = fc.oneof(
        {
          arbitrary: fc.record({
            kind: fc.constant('commit' as const),
            tenantId: tenant,
            gap: fc.integer({ min: 1, max: 3 }),
          }),
          weight: 4,
        },
        {
          arbitrary: fc.record({
            kind: fc.constant('follow' as const),
            tenantId: fc.option(tenant, { nil: undefined }),
            lastEventId: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
          }),
          weight: 3,
        },
        { arbitrary: fc.record({ kind: fc.constant('wake' as const) }), weight: 2 },
        { arbitrary: fc.record({ kind: fc.constant('end' as const), which: fc.nat() }), weight: 1 },
      );
      await fc.assert(
        fc.asyncProperty(
          fc.scheduler(),
          fc.integer({ min: 1, max: 4 }),
          fc.integer({ min: 0, max: 6 }),
          fc.array(step, { maxLength: 30 }),
          async (s, batchSize, backlog, steps) => {
            const outbox = fakeOutbox();
            for (let i = 0; i < backlog; i++) outbox.commit(i % 2 === 0 ? 'org-1' : 'org-2');
            outbox.prune(Math.floor(backlog / 2));
            // A query reads the outbox at one scheduled moment and answers at another: commits,
            // wakes, stream starts and other queries may come in between, before or after.
            const scheduled = async <T>(query: () => Promise<T>) => {
              await s.schedule(Promise.resolve(), 'query runs');
              const answer = await query();
              return s.schedule(Promise.resolve(answer), 'answer arrives');
            };
            const store: FeedStore = {
              limitsChangesAfter: (after, options) =>
                scheduled(() => outbox.limitsChangesAfter(after, options)),
              limitsChangesPosition: () => scheduled(() => outbox.limitsChangesPosition()),
            };
            const closing = new AbortController();
            const feed = createLimitsChangeFeed({
              store,
              signal: closing.signal,
              pollMs: 3_600_000,
              batchSize,
            });
            const streams: { options: FollowOptions; ended: AbortController; seen: Seen }[] = [];
            try {
              s.scheduleSequence(
                steps.map((step) => ({
                  label: JSON.stringify(step),
                  builder: async () => {
                    if (step.kind === 'commit') outbox.commit(step.tenantId, step.gap);
                    else if (step.kind === 'wake') feed.wake();
                    else if (step.kind === 'follow') {
                      const ended = new AbortController();
                      const options = { tenantId: step.tenantId, lastEventId: step.lastEventId };
                      streams.push({
                        options,
                        ended,
                        seen: consume(feed.follow({ ...options, signal: ended.signal })),
                      });
                    } else streams[step.which % Math.max(streams.length, 1)]?.ended.abort();
                  },
                })),
              );
              await s.waitIdle();
              // A last look after everything: whatever committed is then on its way to every stream.
              feed.wake();
              await s.waitIdle();
              await settled();
              for (const { options, ended, seen } of streams) {
                expect(seen.error).toBeUndefined();
                const [first, ...rest] = seen.messages;
                if (first === undefined) {
                  // Ended before it began.
                  expect(ended.signal.aborted).toBe(true);
                  continue;
                }
                expect(first.type).toBe('ready');
                const start = first.type === 'ready' ? first.data : { sequence: Number.NaN, resumed: false };
                const { lastEventId } = options;
                if (start.resumed) {
                  expect(start.sequence).toBe(lastEventId);
                  expect(lastEventId).toBeGreaterThanOrEqual(outbox.prunedThrough);
                } else if (lastEventId !== undefined) {
                  expect(lastEventId < outbox.prunedThrough || lastEventId > start.sequence).toBe(true);
                }
                const expected = outbox.committed
                  .filter(
                    (change) =>
                      change.sequence > start.sequence &&
                      (options.tenantId === undefined || change.tenant_id === options.tenantId),
                  )
                  .map((change) => change.sequence);
                const received = sequencesOf(rest);
                expect(rest.every((message) => message.type === 'limits.changed')).toBe(true);
                if (ended.signal.aborted) expect(received).toEqual(expected.slice(0, received.length));
                else {
                  expect(received).toEqual(expected);
                  expect(seen.done).toBe(false);
                }
              }
              expect(feed.subscribers).toBe(
                streams.filter(({ ended, seen }) => !ended.signal.aborted && !seen.done).length,
              );
            } finally {
              closing.abort();
              await s.waitIdle();
              await settled();
            }
            expect(feed.subscribers).toBe(0);
          },
        ),
      );
    });
  });

  describe('a stream ends', () => {
    it('when its caller’s signal aborts while it waits', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox);
      const { seen, controller } = await following(feed);
      expect(feed.subscribers).toBe(1);
      controller.abort();
      await soon(() => seen.done);
      expect(seen.error).toBeUndefined();
      expect(feed.subscribers).toBe(0);
      expect(seen.messages).toEqual([ready(0, false)]);
    });

    it('when its caller’s signal aborts during the replay, sending no more of it', async () => {
      const outbox = fakeOutbox();
      for (let i = 0; i < 4; i++) outbox.commit();
      const { feed } = openFeed(outbox, { batchSize: 2 });
      const { stream, controller } = follow(feed, { lastEventId: 0 });
      expect(await nextOf(stream)).toEqual({ done: false, value: ready(0, true) });
      expect(await nextOf(stream)).toEqual({ done: false, value: changed(1) });
      controller.abort();
      expect(await nextOf(stream)).toEqual({ done: true, value: undefined });
      expect(feed.subscribers).toBe(0);
    });

    it('when its caller’s signal aborts while it is waiting to be pulled, at its next pull', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox);
      const { stream, controller } = follow(feed);
      expect(await nextOf(stream)).toEqual({ done: false, value: ready(0, false) });
      const waiting = nextOf(stream);
      outbox.commit();
      outbox.commit();
      feed.wake();
      expect(await waiting).toEqual({ done: false, value: changed(1) });
      // 2 is queued; the caller goes away before pulling it.
      controller.abort();
      expect(await nextOf(stream)).toEqual({ done: true, value: undefined });
      expect(feed.subscribers).toBe(0);
    });

    it('every one, when the feed’s signal aborts; and the feed reads no more', async () => {
      const outbox = fakeOutbox();
      const { feed, controller } = openFeed(outbox);
      const one = await following(feed);
      const two = await following(feed, { tenantId: 'org-2' });
      const { stream: pulledSlowly } = follow(feed);
      expect(await nextOf(pulledSlowly)).toEqual({ done: false, value: ready(0, false) });
      expect(feed.subscribers).toBe(3);
      controller.abort();
      await soon(() => one.seen.done && two.seen.done);
      expect([one.seen.error, two.seen.error]).toEqual([undefined, undefined]);
      expect(await nextOf(pulledSlowly)).toEqual({ done: true, value: undefined });
      expect(feed.subscribers).toBe(0);
      const queries = outbox.afterCalls.length;
      outbox.commit();
      feed.wake();
      await settled();
      expect(outbox.afterCalls).toHaveLength(queries);
    });

    it('at once, reading nothing, when its caller’s signal aborted before it started', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox);
      const gone = new AbortController();
      gone.abort();
      const stream = feed.follow({ signal: gone.signal });
      expect(await nextOf(stream)).toEqual({ done: true, value: undefined });
      expect([outbox.afterCalls.length, feed.subscribers]).toEqual([0, 0]);
    });

    it('refused (store unavailable, 503) when it starts after the feed closed, reading nothing', async () => {
      const outbox = fakeOutbox();
      const { feed, controller } = openFeed(outbox);
      controller.abort();
      const { stream } = follow(feed);
      await expect(nextOf(stream)).rejects.toMatchObject({ code: 'store_unavailable' });
      expect([outbox.afterCalls.length, feed.subscribers]).toEqual([0, 0]);
    });

    it('not while it is at most maxQueued changes behind', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox, { maxQueued: 2 });
      const { stream } = follow(feed);
      expect(await nextOf(stream)).toEqual({ done: false, value: ready(0, false) });
      const waiting = nextOf(stream);
      outbox.commit();
      feed.wake();
      expect(await waiting).toEqual({ done: false, value: changed(1) });
      // Not pulled while 2 and 3 arrive: 2 behind.
      const queries = outbox.afterCalls.length;
      outbox.commit();
      outbox.commit();
      feed.wake();
      await soon(() => outbox.afterCalls.length === queries + 1);
      await settled();
      expect(await nextOf(stream)).toEqual({ done: false, value: changed(2) });
      expect(await nextOf(stream)).toEqual({ done: false, value: changed(3) });
      expect(feed.subscribers).toBe(1);
    });

    it('when it falls more than maxQueued changes behind, while the others go on', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox, { maxQueued: 2 });
      const fast = await following(feed);
      const otherTenant = await following(feed, { tenantId: 'org-2' });
      const { stream: slow } = follow(feed);
      expect(await nextOf(slow)).toEqual({ done: false, value: ready(0, false) });
      const waiting = nextOf(slow);
      outbox.commit();
      feed.wake();
      expect(await waiting).toEqual({ done: false, value: changed(1) });
      // One change a wake, the fast stream taking each before the next: only the slow one falls behind.
      for (let i = 0; i < 3; i++) {
        outbox.commit();
        feed.wake();
        await soon(() => fast.seen.messages.length === 3 + i);
      }
      // 3 behind: ended at its next pull, without the changes it had waiting (it resumes from 1).
      expect(await nextOf(slow)).toEqual({ done: true, value: undefined });
      expect(feed.subscribers).toBe(2);
      outbox.commit();
      outbox.commit('org-2');
      feed.wake();
      await soon(() => fast.seen.messages.length === 7 && otherTenant.seen.messages.length === 2);
      await settled();
      expect(sequencesOf(fast.seen.messages)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(otherTenant.seen.messages).toEqual([ready(0, false), changed(6, 'org-2')]);
      expect(fast.seen.done).toBe(false);
    });

    it('when its changes of another tenant pass by, not counted against it', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox, { maxQueued: 1 });
      const { stream } = follow(feed, { tenantId: 'org-1' });
      expect(await nextOf(stream)).toEqual({ done: false, value: ready(0, false) });
      const waiting = nextOf(stream);
      for (let i = 0; i < 3; i++) outbox.commit('org-2');
      outbox.commit('org-1');
      feed.wake();
      expect(await waiting).toEqual({ done: false, value: changed(4) });
      expect(feed.subscribers).toBe(1);
    });

    it('when its generator is returned, and the feed stops reading with it', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox);
      const { stream } = follow(feed);
      expect(await nextOf(stream)).toEqual({ done: false, value: ready(0, false) });
      expect(feed.subscribers).toBe(1);
      expect(await stream.return()).toEqual({ done: true, value: undefined });
      expect(feed.subscribers).toBe(0);
      const queries = outbox.afterCalls.length;
      outbox.commit();
      feed.wake();
      await settled();
      expect(outbox.afterCalls).toHaveLength(queries);
      expect(await nextOf(stream)).toEqual({ done: true, value: undefined });
    });

    it('alone: the others keep receiving, and the reader keeps reading for them', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox);
      const leaving = await following(feed);
      const staying = await following(feed);
      leaving.controller.abort();
      await soon(() => leaving.seen.done);
      expect(feed.subscribers).toBe(1);
      outbox.commit();
      feed.wake();
      await soon(() => staying.seen.messages.length === 2);
      expect(staying.seen.messages).toEqual([ready(0, false), changed(1)]);
      expect(outbox.afterCalls.at(-1)?.after).toBe(0);
    });

    it('not while it has maxQueued changes waiting before it was pulled past ready', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox, { maxQueued: 2 });
      const { stream } = follow(feed);
      expect(await nextOf(stream)).toEqual({ done: false, value: ready(0, false) });
      outbox.commit();
      outbox.commit();
      feed.wake();
      await soon(() => outbox.afterCalls.length === 1);
      await settled();
      expect(await nextOf(stream)).toEqual({ done: false, value: changed(1) });
      expect(await nextOf(stream)).toEqual({ done: false, value: changed(2) });
      outbox.commit();
      feed.wake();
      expect(await nextOf(stream)).toEqual({ done: false, value: changed(3) });
      expect(feed.subscribers).toBe(1);
    });

    it('without options (no signal, no tenant): followed live, and ended by return()', async () => {
      const outbox = fakeOutbox();
      outbox.commit();
      const { feed } = openFeed(outbox);
      const stream = feed.follow();
      expect(await nextOf(stream)).toEqual({ done: false, value: ready(1, false) });
      outbox.commit('org-2');
      feed.wake();
      expect(await nextOf(stream)).toEqual({ done: false, value: changed(2, 'org-2') });
      expect(await stream.return()).toEqual({ done: true, value: undefined });
      expect(feed.subscribers).toBe(0);
    });

    it('without a signal of its own, when the feed closes', async () => {
      const outbox = fakeOutbox();
      const { feed, controller } = openFeed(outbox);
      const seen = consume(feed.follow({ lastEventId: 0 }));
      await soon(() => seen.messages.length === 1);
      controller.abort();
      await soon(() => seen.done);
      expect(seen.error).toBeUndefined();
      expect(feed.subscribers).toBe(0);
    });

    it('by return(), leaving no listener on its caller’s signal', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox);
      const ended = new AbortController();
      const stream = feed.follow({ signal: ended.signal });
      expect(await nextOf(stream)).toEqual({ done: false, value: ready(0, false) });
      expect(getEventListeners(ended.signal, 'abort')).toHaveLength(1);
      await stream.return();
      // A long-lived signal (one per connection) serving many streams must not collect them.
      expect(getEventListeners(ended.signal, 'abort')).toHaveLength(0);
    });

    it('by its signal, leaving no listener on it', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox);
      const ended = new AbortController();
      const stream = feed.follow({ signal: ended.signal });
      expect(await nextOf(stream)).toEqual({ done: false, value: ready(0, false) });
      const waiting = nextOf(stream);
      await settled();
      expect(getEventListeners(ended.signal, 'abort')).toHaveLength(1);
      ended.abort();
      expect(await waiting).toEqual({ done: true, value: undefined });
      expect(getEventListeners(ended.signal, 'abort')).toHaveLength(0);
    });
  });

  describe('a failing store', () => {
    it('during a live read is reported, and the change comes with the next wake', async () => {
      const outbox = fakeOutbox();
      const { feed, errors } = openFeed(outbox);
      const { seen } = await following(feed);
      const failure = new Error('connection reset');
      onceAfter(outbox, () => {
        throw failure;
      });
      outbox.commit();
      feed.wake();
      await soon(() => errors.length === 1);
      expect(errors).toEqual([failure]);
      await settled();
      expect(seen.messages).toEqual([ready(0, false)]);
      expect(seen.done).toBe(false);
      expect(feed.subscribers).toBe(1);
      feed.wake();
      await soon(() => seen.messages.length === 2);
      expect(seen.messages).toEqual([ready(0, false), changed(1)]);
      expect(errors).toHaveLength(1);
    });

    it('during a live read is read past at the next poll', async () => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      onTestFinished(() => {
        vi.useRealTimers();
      });
      const outbox = fakeOutbox();
      const { feed, errors } = openFeed(outbox, { pollMs: 1_000 });
      const { seen } = await following(feed);
      onceAfter(outbox, () => Promise.reject(new Error('connection reset')));
      outbox.commit();
      await vi.advanceTimersByTimeAsync(1_000);
      await soon(() => errors.length === 1);
      await settled();
      expect(seen.messages).toEqual([ready(0, false)]);
      await vi.advanceTimersByTimeAsync(1_000);
      await soon(() => seen.messages.length === 2);
      expect(seen.messages).toEqual([ready(0, false), changed(1)]);
    });

    it('without onError, during a live read, is read past all the same', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox, { onError: undefined });
      const { seen } = await following(feed);
      const queries = outbox.afterCalls.length;
      onceAfter(outbox, () => {
        throw new Error('connection reset');
      });
      outbox.commit();
      feed.wake();
      await soon(() => outbox.afterCalls.length === queries + 1);
      await settled();
      feed.wake();
      await soon(() => seen.messages.length === 2);
      expect(seen.messages).toEqual([ready(0, false), changed(1)]);
    });

    it('starting a streak fails the streams starting it, and the next stream starts it again', async () => {
      const outbox = fakeOutbox();
      outbox.commit();
      const { feed, errors } = openFeed(outbox);
      const failure = new Error('connection refused');
      onPosition(outbox, 1, () => {
        throw failure;
      });
      const first = follow(feed);
      const second = follow(feed);
      const results = await Promise.allSettled([nextOf(first.stream), nextOf(second.stream)]);
      expect(results).toEqual([
        {
          status: 'rejected',
          reason: expect.objectContaining({ code: 'store_unavailable', cause: failure }),
        },
        {
          status: 'rejected',
          reason: expect.objectContaining({ code: 'store_unavailable', cause: failure }),
        },
      ]);
      // Both waited on the one start.
      expect(outbox.positionCalls).toBe(1);
      expect(feed.subscribers).toBe(0);
      // A stream's own failure is its caller's to see, not the feed's.
      expect(errors).toEqual([]);
      feed.wake();
      await settled();
      expect(outbox.afterCalls).toEqual([]);

      const third = await following(feed);
      expect(third.seen.messages).toEqual([ready(1, false)]);
      expect(feed.subscribers).toBe(1);
      outbox.commit();
      feed.wake();
      await soon(() => third.seen.messages.length === 2);
      expect(third.seen.messages).toEqual([ready(1, false), changed(2)]);
    });

    it('reading a joining stream’s own position fails that stream only', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox);
      const open = await following(feed);
      const failure = new Error('statement timeout');
      onPosition(outbox, 1, () => {
        throw failure;
      });
      const { stream } = follow(feed);
      await expect(nextOf(stream)).rejects.toMatchObject({ code: 'store_unavailable', cause: failure });
      expect(feed.subscribers).toBe(1);
      outbox.commit();
      feed.wake();
      await soon(() => open.seen.messages.length === 2);
      expect(open.seen.messages).toEqual([ready(0, false), changed(1)]);
    });

    it('reading the first stream’s own position fails it, and leaves no reader behind', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox);
      const failure = new Error('statement timeout');
      onPosition(outbox, 2, () => {
        throw failure;
      });
      const { stream } = follow(feed);
      await expect(nextOf(stream)).rejects.toMatchObject({ code: 'store_unavailable', cause: failure });
      expect(feed.subscribers).toBe(0);
      outbox.commit();
      feed.wake();
      await settled();
      expect(outbox.afterCalls).toEqual([]);
    });

    it('replaying fails that stream after its ready, and leaves the count right', async () => {
      const outbox = fakeOutbox();
      outbox.commit();
      const { feed } = openFeed(outbox);
      const open = await following(feed);
      const failure = new Error('statement timeout');
      const { stream } = follow(feed, { lastEventId: 0 });
      expect(await nextOf(stream)).toEqual({ done: false, value: ready(0, true) });
      expect(feed.subscribers).toBe(2);
      onceAfter(outbox, () => {
        throw failure;
      });
      await expect(nextOf(stream)).rejects.toMatchObject({ code: 'store_unavailable', cause: failure });
      expect(feed.subscribers).toBe(1);
      expect(await nextOf(stream)).toEqual({ done: true, value: undefined });
      open.controller.abort();
      await soon(() => open.seen.done);
      expect(feed.subscribers).toBe(0);
      // The last stream gone: no reader.
      const queries = outbox.afterCalls.length;
      outbox.commit();
      feed.wake();
      await settled();
      expect(outbox.afterCalls).toHaveLength(queries);
    });

    it('a statement the database refused goes on as it is (a fault: 500), not as unavailable', async () => {
      const outbox = fakeOutbox();
      const { feed } = openFeed(outbox);
      const refused = Object.assign(new Error('relation "billing_event" does not exist'), {
        code: '42P01',
        severity: 'ERROR',
      });
      const { stream } = follow(feed);
      onceAfter(outbox, () => {
        throw refused;
      });
      expect(await nextOf(stream)).toEqual({ done: false, value: ready(0, false) });
      await expect(nextOf(stream)).rejects.toBe(refused);
      expect(feed.subscribers).toBe(0);
    });

    it('replaying the only stream fails it and stops the reader', async () => {
      const outbox = fakeOutbox();
      outbox.commit();
      const { feed } = openFeed(outbox);
      const { stream } = follow(feed, { lastEventId: 0 });
      expect(await nextOf(stream)).toEqual({ done: false, value: ready(0, true) });
      onceAfter(outbox, () => {
        throw new Error('statement timeout');
      });
      await expect(nextOf(stream)).rejects.toMatchObject({ code: 'store_unavailable' });
      expect(feed.subscribers).toBe(0);
      outbox.commit();
      feed.wake();
      await settled();
      expect(outbox.afterCalls).toHaveLength(1);
    });
  });
});
