/**
 * `watchLimits()`: the change stream through the client (tRPC's SSE subscription over the
 * `eventsource` ponyfill), against the app in process with real changes written through the store:
 * `ready` first, changes in order, the tenant filter, resuming after an id and after a dropped
 * connection, the token asked for every connection, a refusal thrown, the loop ended by a signal.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { isBillingClientError, type LimitsStreamMessage } from '../../packages/client/src/index.js';
import { useHarness } from '../support/harness.js';
import { clientOver } from './stream-network.js';

/** Reads the stream in the background; `until` waits for the messages a test expects. */
function reader(stream: AsyncIterable<LimitsStreamMessage>) {
  const messages: LimitsStreamMessage[] = [];
  let failure: unknown;
  let ended = false;
  const reading = (async () => {
    try {
      for await (const message of stream) messages.push(message);
    } catch (error) {
      failure = error;
    } finally {
      ended = true;
    }
  })();
  return {
    messages,
    reading,
    get failure() {
      return failure;
    },
    get ended() {
      return ended;
    },
    /** Waits (polling, with a deadline) until `check` holds for the messages so far. */
    async until(check: (messages: LimitsStreamMessage[]) => boolean, what: string, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!check(messages)) {
        if (failure) throw failure;
        if (Date.now() > deadline) {
          throw new Error(`waited ${timeoutMs} ms for ${what}; got ${JSON.stringify(messages)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
  };
}

const changesOf = (messages: LimitsStreamMessage[], tenantId: string) =>
  messages.flatMap((message) =>
    message.type === 'limits.changed' && message.data.tenant_id === tenantId ? [message] : [],
  );
const readies = (messages: LimitsStreamMessage[]) => messages.filter((message) => message.type === 'ready');

/** A stream read in the background, stopped when the test ends. */
function watch(
  client: ReturnType<typeof clientOver>['client'],
  options: Parameters<typeof client.watchLimits>[0] = {},
) {
  const controller = new AbortController();
  const read = reader(client.watchLimits({ ...options, signal: controller.signal }));
  onTestFinished(async () => {
    controller.abort();
    await read.reading;
  });
  return { ...read, stop: () => controller.abort() };
}

describe('watchLimits(): the change stream', () => {
  const h = useHarness({ store: 'pglite' });
  const setDeployments = (tenantId: string, deployments: number) =>
    h.store.tenants.putTenant(tenantId, { overrides: { deployments } }, 'test');

  it('sends ready first, then every change in sequence order, each with its id', async () => {
    const tenantId = await h.tenant('growth');
    const { client } = clientOver(h);
    const stream = watch(client);
    await stream.until((messages) => readies(messages).length === 1, 'ready');
    const [ready] = stream.messages;
    expect(ready).toMatchObject({ type: 'ready', data: { resumed: false } });
    expect(ready?.id).toBe(String(ready?.type === 'ready' && ready.data.sequence));

    for (const deployments of [11, 12, 13]) await setDeployments(tenantId, deployments);
    await stream.until((messages) => changesOf(messages, tenantId).length === 3, 'three changes');
    const changes = changesOf(stream.messages, tenantId);
    expect(changes.map((change) => change.data.after.deployments)).toEqual([11, 12, 13]);
    expect(changes.slice(1).map((change) => change.data.before?.deployments)).toEqual([11, 12]);
    expect(changes[0]).toMatchObject({
      data: { tenant_id: tenantId, customer_id: tenantId, cause: 'admin' },
    });
    const sequences = changes.map((change) => change.data.sequence);
    expect(changes.map((change) => change.id)).toEqual(sequences.map(String));
    expect([...sequences].sort((a, b) => a - b)).toEqual(sequences);
    expect(new Set(sequences).size).toBe(3);
  });

  it("narrows the stream to one tenant's changes", async () => {
    const [mine, other] = [await h.tenant('free'), await h.tenant('free')];
    const { client } = clientOver(h);
    const stream = watch(client, { tenantId: mine });
    await stream.until((messages) => readies(messages).length === 1, 'ready');
    await setDeployments(other, 5);
    await setDeployments(mine, 6);
    await stream.until((messages) => changesOf(messages, mine).length === 1, "the tenant's change");
    expect(stream.messages.filter((message) => message.type === 'limits.changed')).toEqual(
      changesOf(stream.messages, mine),
    );
  });

  it('resumes after a given id: the changes since are replayed first', async () => {
    const tenantId = await h.tenant('growth');
    const { client } = clientOver(h);
    const first = watch(client, { tenantId });
    await first.until((messages) => readies(messages).length === 1, 'ready');
    await setDeployments(tenantId, 21);
    await first.until((messages) => changesOf(messages, tenantId).length === 1, 'the first change');
    first.stop();
    await first.reading;
    const lastEventId = first.messages.at(-1)?.id;

    await setDeployments(tenantId, 22);
    await setDeployments(tenantId, 23);
    const second = watch(client, { tenantId, lastEventId });
    await second.until((messages) => changesOf(messages, tenantId).length === 2, 'the missed changes');
    expect(second.messages[0]).toMatchObject({ type: 'ready', id: lastEventId, data: { resumed: true } });
    expect(changesOf(second.messages, tenantId).map((change) => change.data.after.deployments)).toEqual([
      22, 23,
    ]);
  });

  it('connects again after a dropped connection, resuming after the last id: nothing missed, nothing twice', async () => {
    const tenantId = await h.tenant('growth');
    let tokensAsked = 0;
    const { client, network } = clientOver(h, {
      token: () => {
        tokensAsked++;
        return h.workerToken();
      },
    });
    const stream = watch(client);
    await stream.until((messages) => readies(messages).length === 1, 'ready');
    await setDeployments(tenantId, 31);
    await stream.until((messages) => changesOf(messages, tenantId).length === 1, 'the first change');
    const asked = tokensAsked;

    network.setDown(true);
    network.cutStreams();
    await setDeployments(tenantId, 32);
    await setDeployments(tenantId, 33);
    network.setDown(false);

    await stream.until((messages) => changesOf(messages, tenantId).length === 3, 'the missed changes');
    const [, again] = readies(stream.messages);
    expect(again).toMatchObject({ type: 'ready', data: { resumed: true } });
    expect(changesOf(stream.messages, tenantId).map((change) => change.data.after.deployments)).toEqual([
      31, 32, 33,
    ]);
    // The new connection asked to resume after the last id received, with a token asked anew.
    const subscriptions = network.callsTo('billing.limitsChanges');
    const resumedFrom = subscriptions.at(-1)?.input?.['lastEventId'];
    expect(typeof resumedFrom).toBe('string');
    expect(Number(resumedFrom)).toBeLessThan(changesOf(stream.messages, tenantId)[1]?.data.sequence ?? 0);
    expect(tokensAsked).toBeGreaterThan(asked);
    expect(subscriptions.every((request) => request.authorization?.startsWith('Bearer '))).toBe(true);
  });

  it('takes a stream silent for streamIdleMs for a dead connection, and makes it again', async () => {
    const { client } = clientOver(h, { streamIdleMs: 200 });
    const stream = watch(client);
    // The service's heartbeat comes every 15 s: far longer than 200 ms of silence.
    await stream.until((messages) => readies(messages).length >= 2, 'a second connection');
    const [first, second] = readies(stream.messages);
    expect(first).toMatchObject({ data: { resumed: false } });
    expect(second).toMatchObject({ id: first?.id, data: { resumed: true } });
  });

  it('throws a refusal (a bad token) and ends', async () => {
    const { client } = clientOver(h, { token: 'not-a-token' });
    const stream = reader(client.watchLimits());
    await stream.reading;
    expect(isBillingClientError(stream.failure) && stream.failure.data?.code).toBe('UNAUTHORIZED');
    expect(stream.messages).toEqual([]);
  });

  it('ends quietly when the signal aborts, and opens nothing more', async () => {
    const { client, network } = clientOver(h);
    const controller = new AbortController();
    const stream = reader(client.watchLimits({ signal: controller.signal }));
    await stream.until((messages) => readies(messages).length === 1, 'ready');
    controller.abort();
    await stream.reading;
    expect(stream.failure).toBeUndefined();
    expect(network.openStreams).toBe(0);
    const opened = network.callsTo('billing.limitsChanges').length;
    const again = reader(client.watchLimits({ signal: controller.signal }));
    await again.reading;
    expect(again.messages).toEqual([]);
    expect(network.callsTo('billing.limitsChanges')).toHaveLength(opened);
  });

  it('refuses options that cannot work', () => {
    const { client } = clientOver(h);
    expect(() => client.watchLimits({ tenantId: '' })).toThrow(
      new TypeError('watchLimits: tenantId must be a non-empty string, got ""'),
    );
    expect(() => client.watchLimits({ lastEventId: 'abc' })).toThrow(
      new TypeError(
        'watchLimits: lastEventId must be an event id the stream sent (a whole number), got "abc"',
      ),
    );
    expect(() => client.watchLimits({ signal: {} as AbortSignal })).toThrow(
      new TypeError('watchLimits: signal must be an AbortSignal'),
    );
  });
});

describe('watchLimits() against a service without a database', () => {
  const h = useHarness({ store: 'none' });

  it('throws the refusal: there is no stream to follow', async () => {
    const { client } = clientOver(h);
    const stream = reader(client.watchLimits());
    await stream.reading;
    expect(isBillingClientError(stream.failure) && stream.failure.data?.httpStatus).toBe(404);
  });
});
