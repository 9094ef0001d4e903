import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  type DeliveryOutcome,
  type DispatcherOptions,
  type SendResult,
  type SendWebhook,
  startDispatcher,
} from '../../../src/domain/outbox/dispatcher.js';
import type { AttemptOutcome, ClaimedDelivery } from '../../../src/domain/outbox/outbox-store.js';
import type { SignedRequest } from '../../../src/domain/outbox/signed-request.js';
import { eventually } from '../../support/eventually.js';

/**
 * Every wait here is for something the dispatcher does within milliseconds; `pollMs` is a minute
 * wherever a prompt look must be the dispatcher's own doing, so the deadline only ends a hang.
 */
const soon = (check: () => boolean) => eventually(check, 2_000, 5);

let deliveries = 0;
const claimed = (fields: Partial<ClaimedDelivery> = {}): ClaimedDelivery => {
  deliveries++;
  return {
    id: `delivery-${deliveries}`,
    endpointId: `endpoint-${deliveries}`,
    url: `https://hooks.example.com/${deliveries}`,
    secret: `whsec_${randomBytes(32).toString('base64')}`,
    attempt: 1,
    event: {
      id: `evt-${deliveries}`,
      type: 'limits.changed',
      sequence: deliveries,
      createdAt: new Date('2026-12-03T12:00:00Z'),
      tenantId: 'org-1',
      data: {
        tenant_id: 'org-1',
        customer_id: 'cus-1',
        before: null,
        after: { deployments: 5, self_hosted_workers: null, plan_type: 'growth' },
        cause: 'admin',
      },
    },
    ...fields,
  };
};

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

/**
 * An outbox in memory that records what the dispatcher asks of it. `batches` are handed out by
 * `claimDue` one per call (then nothing is due); a function or promise there stands for a claim
 * still under way or failing.
 */
function fakeStore() {
  const store = {
    batches: [] as (ClaimedDelivery[] | Promise<ClaimedDelivery[]> | (() => Promise<ClaimedDelivery[]>))[],
    nextDue: undefined as number | undefined | (() => Promise<number | undefined>),
    pending: 0 as number | (() => Promise<number>),
    disables: false as boolean | (() => Promise<boolean>),
    claims: [] as { limit: number; leaseMs: number; at: number }[],
    finished: [] as { delivery: ClaimedDelivery; outcome: AttemptOutcome; disableAfterMs: number }[],
    async claimDue(limit: number, leaseMs: number) {
      store.claims.push({ limit, leaseMs, at: performance.now() });
      const batch = store.batches.shift() ?? [];
      return typeof batch === 'function' ? batch() : batch;
    },
    async finishAttempt(delivery: ClaimedDelivery, outcome: AttemptOutcome, disableAfterMs: number) {
      store.finished.push({ delivery, outcome, disableAfterMs });
      return typeof store.disables === 'function' ? store.disables() : store.disables;
    },
    async nextDueInMs() {
      return typeof store.nextDue === 'function' ? store.nextDue() : store.nextDue;
    },
    async pendingCount() {
      return typeof store.pending === 'function' ? store.pending() : store.pending;
    },
  };
  return store;
}

/** A receiver answering each POST with `answer` (a status, or an error), recording what it got. */
function fakeSend(answer: SendResult | ((url: string) => Promise<SendResult>)) {
  const sent: { url: string; request: SignedRequest; timeoutMs: number }[] = [];
  const send: SendWebhook = async (url, request, timeoutMs) => {
    sent.push({ url, request, timeoutMs });
    return typeof answer === 'function' ? answer(url) : answer;
  };
  return { send, sent };
}

/**
 * Starts a dispatcher on `store`, stopped (and awaited) when the test ends; records what it
 * reports. Polls rarely unless told otherwise, so that a prompt look is the dispatcher's doing.
 */
function start(
  store: ReturnType<typeof fakeStore>,
  send: SendWebhook,
  options: Partial<Omit<DispatcherOptions, 'store' | 'send' | 'signal'>> = {},
) {
  const controller = new AbortController();
  const reported = {
    outcomes: [] as { eventType: string; outcome: DeliveryOutcome }[],
    disabled: [] as { endpointId: string; url: string; reason: string }[],
    pendingCounts: [] as number[],
    errors: [] as unknown[],
  };
  const dispatcher = startDispatcher({
    store,
    send,
    signal: controller.signal,
    pollMs: 60_000,
    onOutcome: (outcome) => reported.outcomes.push(outcome),
    onEndpointDisabled: (endpoint) => reported.disabled.push(endpoint),
    onPendingCount: (count) => reported.pendingCounts.push(count),
    onError: (error) => reported.errors.push(error),
    ...options,
  });
  onTestFinished(async () => {
    controller.abort();
    await dispatcher.stopped;
  });
  return { dispatcher, controller, reported };
}

/** Resolves with `promise`, or fails the test when it takes longer than `ms`. */
const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms)),
  ]);

describe('startDispatcher', () => {
  describe('an attempt', () => {
    it('of data the contract does not describe is given up at once, never sent', async () => {
      const store = fakeStore();
      const delivery = claimed();
      const { after: _, ...withoutAfter } = delivery.event.data;
      const broken = { ...delivery, event: { ...delivery.event, data: withoutAfter } };
      store.batches.push([broken]);
      const { send, sent } = fakeSend({ statusCode: 200 });
      const { reported } = start(store, send);
      await soon(() => reported.outcomes.length === 1);
      expect(sent).toEqual([]);
      expect(store.finished).toEqual([
        {
          delivery: broken,
          outcome: { kind: 'failed', statusCode: null, error: expect.stringMatching(/^not sent: .*after/s) },
          disableAfterMs: 24 * 60 * 60 * 1_000,
        },
      ]);
      expect(reported.outcomes).toEqual([{ eventType: 'limits.changed', outcome: 'failed' }]);
    });

    it('answered 2xx is delivered', async () => {
      const store = fakeStore();
      const delivery = claimed();
      store.batches.push([delivery]);
      const { send, sent } = fakeSend({ statusCode: 204 });
      const { reported } = start(store, send, {
        attemptTimeoutMs: 1_234,
        now: () => Date.parse('2026-12-03T12:00:05.5Z'),
      });
      await soon(() => reported.outcomes.length === 1);
      expect(store.finished).toEqual([
        { delivery, outcome: { kind: 'delivered', statusCode: 204 }, disableAfterMs: 24 * 60 * 60 * 1_000 },
      ]);
      expect(reported.outcomes).toEqual([{ eventType: 'limits.changed', outcome: 'delivered' }]);
      expect(reported.disabled).toEqual([]);
      // POSTed to the endpoint's URL, signed with its secret at the dispatcher's time, within the timeout.
      expect(sent).toHaveLength(1);
      expect(sent[0]?.url).toBe(delivery.url);
      expect(sent[0]?.timeoutMs).toBe(1_234);
      const headers = sent[0]?.request.headers ?? {};
      expect(headers['webhook-id']).toBe(delivery.event.id);
      expect(headers['webhook-timestamp']).toBe(
        String(Math.floor(Date.parse('2026-12-03T12:00:05Z') / 1000)),
      );
      expect(headers['webhook-signature']).toBe(
        new Webhook(delivery.secret).sign(
          delivery.event.id,
          new Date('2026-12-03T12:00:05Z'),
          sent[0]?.request.body ?? '',
        ),
      );
    });

    it.each([200, 299])('answered %i is delivered', async (statusCode) => {
      const store = fakeStore();
      store.batches.push([claimed()]);
      const { reported } = start(store, fakeSend({ statusCode }).send);
      await soon(() => store.finished.length === 1);
      expect(store.finished[0]?.outcome).toEqual({ kind: 'delivered', statusCode });
      expect(reported.outcomes[0]?.outcome).toBe('delivered');
    });

    it.each([
      [500, 1, 1_000],
      [503, 2, 2_000],
      [300, 1, 1_000],
      [404, 3, 3_000],
      [199, 1, 1_000],
    ])(
      'answered %i on attempt %i is retried after its delay, jittered',
      async (statusCode, attempt, delay) => {
        const store = fakeStore();
        store.batches.push([claimed({ attempt })]);
        const { reported } = start(store, fakeSend({ statusCode }).send, {
          retryDelaysMs: [1_000, 2_000, 3_000],
          disableAfterMs: 5_000,
        });
        await soon(() => reported.outcomes.length === 1);
        const [finished] = store.finished;
        expect(finished?.disableAfterMs).toBe(5_000);
        expect(finished?.outcome).toEqual({
          kind: 'retry',
          statusCode,
          error: `answered ${statusCode}`,
          retryInMs: expect.any(Number),
        });
        const retryInMs = finished?.outcome.kind === 'retry' ? finished.outcome.retryInMs : Number.NaN;
        expect(retryInMs).toBeGreaterThanOrEqual(0.8 * delay);
        expect(retryInMs).toBeLessThanOrEqual(1.2 * delay);
        expect(reported.outcomes).toEqual([{ eventType: 'limits.changed', outcome: 'retried' }]);
        expect(reported.disabled).toEqual([]);
      },
    );

    it('that got no answer is retried with its error and no status', async () => {
      const store = fakeStore();
      store.batches.push([claimed()]);
      const { reported } = start(store, fakeSend({ error: 'connect ECONNREFUSED 203.0.113.7:443' }).send, {
        retryDelaysMs: [10_000],
      });
      await soon(() => reported.outcomes.length === 1);
      const outcome = store.finished[0]?.outcome;
      expect(outcome).toMatchObject({
        kind: 'retry',
        statusCode: null,
        error: 'connect ECONNREFUSED 203.0.113.7:443',
      });
      const retryInMs = outcome?.kind === 'retry' ? outcome.retryInMs : Number.NaN;
      expect(retryInMs).toBeGreaterThanOrEqual(8_000);
      expect(retryInMs).toBeLessThanOrEqual(12_000);
      expect(reported.outcomes[0]?.outcome).toBe('retried');
    });

    it.each<[string, SendResult, AttemptOutcome]>([
      ['answered 500', { statusCode: 500 }, { kind: 'failed', statusCode: 500, error: 'answered 500' }],
      ['got no answer', { error: 'timed out' }, { kind: 'failed', statusCode: null, error: 'timed out' }],
    ])('that was the last and %s fails the delivery', async (_, answer, outcome) => {
      const store = fakeStore();
      store.batches.push([claimed({ attempt: 3 })]);
      const { reported } = start(store, fakeSend(answer).send, { retryDelaysMs: [1_000, 2_000] });
      await soon(() => reported.outcomes.length === 1);
      expect(store.finished[0]?.outcome).toEqual(outcome);
      expect(reported.outcomes).toEqual([{ eventType: 'limits.changed', outcome: 'failed' }]);
      expect(reported.disabled).toEqual([]);
    });

    it('answered 410 Gone is not retried, and disables the endpoint when the store says so', async () => {
      const store = fakeStore();
      store.disables = true;
      const delivery = claimed({ attempt: 1 });
      store.batches.push([delivery]);
      const { reported } = start(store, fakeSend({ statusCode: 410 }).send);
      await soon(() => reported.disabled.length === 1);
      expect(store.finished.map((f) => f.outcome)).toEqual([{ kind: 'gone', statusCode: 410 }]);
      expect(reported.outcomes).toEqual([{ eventType: 'limits.changed', outcome: 'failed' }]);
      expect(reported.disabled).toEqual([
        { endpointId: delivery.endpointId, url: delivery.url, reason: 'answered 410 Gone' },
      ]);
    });

    it('answered 410 Gone reports no disabled endpoint when the store disabled none', async () => {
      const store = fakeStore();
      store.batches.push([claimed()]);
      const { reported } = start(store, fakeSend({ statusCode: 410 }).send);
      await soon(() => reported.outcomes.length === 1);
      expect(store.finished[0]?.outcome).toEqual({ kind: 'gone', statusCode: 410 });
      expect(reported.disabled).toEqual([]);
    });

    it.each<[string, SendResult, number]>([
      ['a retried failure', { statusCode: 502 }, 1],
      ['the last failure', { error: 'timed out' }, 2],
    ])(
      'that ends a run of failures long enough (%s) reports the endpoint failed continuously',
      async (_, answer, attempt) => {
        const store = fakeStore();
        store.disables = true;
        const delivery = claimed({ attempt });
        store.batches.push([delivery]);
        const { reported } = start(store, fakeSend(answer).send, { retryDelaysMs: [1_000] });
        await soon(() => reported.disabled.length === 1);
        expect(reported.disabled).toEqual([
          { endpointId: delivery.endpointId, url: delivery.url, reason: 'failed continuously' },
        ]);
      },
    );
  });

  it('claims up to `concurrency` deliveries, leased for the attempt timeout and 20 s more', async () => {
    const store = fakeStore();
    start(store, fakeSend({ statusCode: 200 }).send, { concurrency: 3, attemptTimeoutMs: 1_000 });
    await soon(() => store.claims.length === 1);
    expect(store.claims[0]).toMatchObject({ limit: 3, leaseMs: 21_000 });
  });

  it('claims 8 at a time, leased for 30 s, by default', async () => {
    const store = fakeStore();
    start(store, fakeSend({ statusCode: 200 }).send);
    await soon(() => store.claims.length === 1);
    expect(store.claims[0]).toMatchObject({ limit: 8, leaseMs: 30_000 });
  });

  it('attempts a batch at once, and looks again as soon as it is done', async () => {
    const store = fakeStore();
    const [a, b] = [claimed(), claimed()];
    store.batches.push([a, b]);
    const answers = new Map([
      [a.url, deferred<SendResult>()],
      [b.url, deferred<SendResult>()],
    ]);
    const { send, sent } = fakeSend((url) => answers.get(url)?.promise ?? Promise.resolve({ error: '?' }));
    start(store, send);
    await soon(() => sent.length === 2); // both under way together
    expect(store.claims).toHaveLength(1);
    answers.get(b.url)?.resolve({ statusCode: 200 });
    await soon(() => store.finished.length === 1);
    expect(store.claims).toHaveLength(1); // not before the whole batch is done
    answers.get(a.url)?.resolve({ statusCode: 200 });
    await soon(() => store.claims.length === 2); // pollMs is a minute: this look is the batch's end
    expect(store.finished.map((f) => f.delivery.id)).toEqual([b.id, a.id]);
  });

  it('counts the pending deliveries each time it finds nothing due', async () => {
    const store = fakeStore();
    store.pending = 7;
    const { reported } = start(store, fakeSend({ statusCode: 200 }).send, { pollMs: 20 });
    await soon(() => reported.pendingCounts.length >= 1);
    store.pending = 3;
    await soon(() => reported.pendingCounts.includes(3));
    expect(reported.pendingCounts[0]).toBe(7);
    expect(reported.pendingCounts.length).toBeLessThanOrEqual(store.claims.length);
  });

  it('does not count pending deliveries after a batch it attempted', async () => {
    const store = fakeStore();
    store.batches.push([claimed()]);
    const { reported } = start(store, fakeSend({ statusCode: 200 }).send);
    await soon(() => reported.pendingCounts.length === 1);
    expect(store.claims).toHaveLength(2);
  });

  describe('between looks', () => {
    it('looks again when woken, long before `pollMs`', async () => {
      const store = fakeStore();
      const { dispatcher, reported } = start(store, fakeSend({ statusCode: 200 }).send, { pollMs: 60_000 });
      await soon(() => reported.pendingCounts.length === 1); // asleep now
      expect(store.claims).toHaveLength(1);
      dispatcher.wake();
      await soon(() => store.claims.length === 2);
      dispatcher.wake();
      await soon(() => store.claims.length === 3);
    });

    it('sleeps until the next delivery is due when that is sooner than `pollMs`', async () => {
      const store = fakeStore();
      store.nextDue = 50;
      start(store, fakeSend({ statusCode: 200 }).send, { pollMs: 60_000 });
      await soon(() => store.claims.length >= 2);
      const [first, second] = store.claims;
      // Not at once either: it waited (about) the 50 ms. A timer may fire a millisecond early.
      expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(45);
    });

    it('sleeps `pollMs` when that is sooner than the next due delivery', async () => {
      const store = fakeStore();
      store.nextDue = 60_000;
      start(store, fakeSend({ statusCode: 200 }).send, { pollMs: 30 });
      await soon(() => store.claims.length >= 3);
      const [first, second] = store.claims;
      expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(25);
    });

    it('sleeps `pollMs` when nothing is pending', async () => {
      const store = fakeStore();
      start(store, fakeSend({ statusCode: 200 }).send, { pollMs: 30 });
      await soon(() => store.claims.length >= 3);
    });

    it('does not spin when a delivery is due now but not claimable (another replica holds it)', async () => {
      const store = fakeStore();
      store.nextDue = 0;
      start(store, fakeSend({ statusCode: 200 }).send, { pollMs: 60_000 });
      await soon(() => store.claims.length >= 2);
      await new Promise((resolve) => setTimeout(resolve, 100));
      // At least 10 ms between looks: at most ~11 in 100 ms (fewer on a loaded machine).
      expect(store.claims.length).toBeLessThanOrEqual(20);
    });

    it.each(['claimDue', 'nextDueInMs', 'pendingCount'] as const)(
      'does not lose a wake that came while %s was under way',
      async (step) => {
        const store = fakeStore();
        const gate = deferred<void>();
        if (step === 'claimDue') store.batches.push(() => gate.promise.then(() => []));
        if (step === 'nextDueInMs') store.nextDue = () => gate.promise.then(() => undefined);
        if (step === 'pendingCount') store.pending = () => gate.promise.then(() => 0);
        let entered = false;
        const { claimDue, nextDueInMs, pendingCount } = store;
        const watched = {
          ...store,
          claimDue: (limit: number, leaseMs: number) => {
            if (step === 'claimDue') entered = true;
            return claimDue(limit, leaseMs);
          },
          nextDueInMs: () => {
            if (step === 'nextDueInMs') entered = true;
            return nextDueInMs();
          },
          pendingCount: () => {
            if (step === 'pendingCount') entered = true;
            return pendingCount();
          },
        };
        const { dispatcher } = start(watched as typeof store, fakeSend({ statusCode: 200 }).send, {
          pollMs: 60_000,
        });
        await soon(() => entered);
        dispatcher.wake();
        gate.resolve();
        // Once the look is done it looks again at once, not in a minute.
        await soon(() => store.claims.length === 2);
        // And the wake was spent: it sleeps after that look.
        store.nextDue = undefined;
        store.pending = 0;
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(store.claims.length).toBe(2);
      },
    );
  });

  describe('when the store fails', () => {
    it('reports the error and looks again', async () => {
      const store = fakeStore();
      const failure = new Error('connection refused');
      store.batches.push(() => Promise.reject(failure));
      const delivery = claimed();
      store.batches.push([delivery]);
      const { reported } = start(store, fakeSend({ statusCode: 200 }).send, { pollMs: 20 });
      await soon(() => store.finished.length === 1);
      expect(reported.errors).toEqual([failure]);
      expect(store.finished[0]?.delivery).toBe(delivery);
    });

    it('reports a failure to record an outcome, and goes on', async () => {
      const store = fakeStore();
      const failure = new Error('connection lost');
      let calls = 0;
      store.disables = async () => {
        calls++;
        if (calls === 1) throw failure;
        return false;
      };
      store.batches.push([claimed()], [claimed()]);
      const { reported } = start(store, fakeSend({ statusCode: 200 }).send, { pollMs: 20 });
      await soon(() => store.finished.length === 2 && reported.outcomes.length === 1);
      expect(reported.errors).toEqual([failure]);
    });

    it('reports a failure of nextDueInMs or pendingCount, and goes on', async () => {
      const store = fakeStore();
      const failures = [new Error('next due failed'), new Error('count failed')];
      let nextDueCalls = 0;
      store.nextDue = async () => {
        nextDueCalls++;
        if (nextDueCalls === 1) throw failures[0];
        return undefined;
      };
      let countCalls = 0;
      store.pending = async () => {
        countCalls++;
        if (countCalls === 1) throw failures[1];
        return 5;
      };
      const { reported } = start(store, fakeSend({ statusCode: 200 }).send, { pollMs: 20 });
      await soon(() => reported.pendingCounts.length >= 1);
      expect(reported.errors).toEqual(failures);
      expect(reported.pendingCounts[0]).toBe(5);
    });
  });

  describe('stopping', () => {
    it('ends the loop when the signal aborts, even mid-sleep', async () => {
      const store = fakeStore();
      const { dispatcher, controller, reported } = start(store, fakeSend({ statusCode: 200 }).send, {
        pollMs: 60_000,
      });
      await soon(() => reported.pendingCounts.length === 1);
      controller.abort();
      await within(dispatcher.stopped, 1_000);
      const looks = store.claims.length;
      dispatcher.wake(); // nothing to wake
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(store.claims.length).toBe(looks);
    });

    it('sends nothing it claimed as it was stopped: the claims run out, and another replica takes them', async () => {
      const store = fakeStore();
      const { send, sent } = fakeSend({ statusCode: 200 });
      const controller = new AbortController();
      store.batches.push(async () => {
        controller.abort();
        return [claimed()];
      });
      const dispatcher = startDispatcher({ store, send, signal: controller.signal, pollMs: 60_000 });
      await within(dispatcher.stopped, 1_000);
      expect(sent).toEqual([]);
      expect(store.finished).toEqual([]);
    });

    it('stops without a look when the signal aborted before it started', async () => {
      const store = fakeStore();
      const controller = new AbortController();
      controller.abort();
      const dispatcher = startDispatcher({
        store,
        send: fakeSend({ statusCode: 200 }).send,
        signal: controller.signal,
      });
      await within(dispatcher.stopped, 1_000);
      expect(store.claims).toHaveLength(0);
    });

    it('lets the attempt under way finish and record its outcome', async () => {
      const store = fakeStore();
      store.batches.push([claimed()]);
      const answer = deferred<SendResult>();
      const { send, sent } = fakeSend(() => answer.promise);
      const { dispatcher, controller } = start(store, send);
      await soon(() => sent.length === 1);
      controller.abort();
      let stopped = false;
      void dispatcher.stopped.then(() => {
        stopped = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(stopped).toBe(false);
      answer.resolve({ statusCode: 200 });
      await within(dispatcher.stopped, 1_000);
      expect(store.finished.map((f) => f.outcome.kind)).toEqual(['delivered']);
      expect(store.claims).toHaveLength(1); // no look after the abort
    });

    it('does not report a store failure that comes after the abort', async () => {
      const store = fakeStore();
      const claim = deferred<ClaimedDelivery[]>();
      store.batches.push(() => claim.promise);
      const { dispatcher, controller, reported } = start(store, fakeSend({ statusCode: 200 }).send);
      await soon(() => store.claims.length === 1);
      controller.abort();
      claim.reject(new Error('connection ended by the closing store'));
      await within(dispatcher.stopped, 1_000);
      expect(reported.errors).toEqual([]);
    });

    // FAILS, a bug (src/domain/outbox/dispatcher.ts, `await Promise.all(claimed.map(attempt))` in
    // `loop`): when one attempt of a batch throws (here its finishAttempt), Promise.all rejects at
    // once while the batch's other attempts are still under way; the loop reports the error, sleeps
    // and goes on without them, so `stopped` resolves before "its attempts have finished" (and,
    // not aborted, the next look can claim while they still run: more than `concurrency` at once).
    // Promise.allSettled, reporting each rejection, would keep both promises.
    it('waits for every attempt of the batch, even when another attempt of it failed', async () => {
      const store = fakeStore();
      const [quick, slow] = [claimed(), claimed()];
      store.batches.push([quick, slow]);
      let finishes = 0;
      store.disables = async () => {
        finishes++;
        if (finishes === 1) throw new Error('connection lost');
        return false;
      };
      const slowAnswer = deferred<SendResult>();
      const { send, sent } = fakeSend((url) =>
        url === slow.url ? slowAnswer.promise : Promise.resolve({ statusCode: 200 }),
      );
      const { dispatcher, controller, reported } = start(store, send);
      await soon(() => sent.length === 2 && store.finished.length === 1);
      controller.abort();
      let stopped = false;
      void dispatcher.stopped.then(() => {
        stopped = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(stopped).toBe(false); // the slow attempt is still under way
      slowAnswer.resolve({ statusCode: 200 });
      await within(dispatcher.stopped, 1_000);
      expect(store.finished.map((f) => f.delivery.id)).toEqual([quick.id, slow.id]);
      expect(reported.errors).toHaveLength(1);
    });
  });
});
