import { type TRPCClient, TRPCClientError } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from './app-router.js';
import { type BillingClientError, isUnavailable } from './failures.js';

/** What `watchLimits()` asks the stream for. */
export type LimitsChangesInput = inferRouterInputs<AppRouter>['billing']['limitsChanges'];

/** One message as the subscription hands it on: its event id and the message. */
type TrackedMessage =
  inferRouterOutputs<AppRouter>['billing']['limitsChanges'] extends AsyncIterable<infer Tracked>
    ? Tracked
    : never;

/**
 * One message of the change stream: `ready` first on every connection (where the stream continues
 * from, and whether it resumed exactly after the last event id), then `limits.changed` for every
 * tenant whose limits changed, in `sequence` order. `id` is the message's event id: resume after it
 * with `watchLimits({ lastEventId: id })`.
 */
export type LimitsStreamMessage = TrackedMessage['data'] & { id: string };

/** How the stream waits before connecting again: "full jitter", as `reserve()` retries. */
export interface ReconnectDelays {
  initialDelayMs: number;
  maxDelayMs: number;
}

export interface FollowHandlers {
  /** A message, in stream order. */
  onMessage(message: LimitsStreamMessage): void;
  /** The connection was lost or could not be made (`failure` says why); another follows after a wait. */
  onDown(failure: BillingClientError): void;
  /**
   * The service refused the subscription (a 4xx: a bad token, bad input). Given: the stream ends
   * with it. Left out: the stream keeps trying, as after any other failure.
   */
  onRefused?(failure: BillingClientError): void;
}

export interface LimitsFollower {
  /** Stops the stream and any wait to reconnect; nothing is called after it. */
  close(): void;
}

/**
 * Follows the change stream across connections: each connection resumes after the last event id
 * received (the stream replays what was missed, or says it could not with `resumed: false`). A
 * lost connection, one that could not be made and one the service ended are all followed by
 * another after a jittered wait that doubles up to `maxDelayMs` and starts over at each `ready`.
 *
 * The EventSource would reconnect by itself, but only to the same URL and with the token it
 * started with, and after a fixed 3 s; a new subscription per connection asks the token function
 * again and waits as the client's other retries do.
 */
export function followLimitsChanges(
  trpc: TRPCClient<AppRouter>,
  input: LimitsChangesInput,
  handlers: FollowHandlers,
  delays: ReconnectDelays,
): LimitsFollower {
  let lastEventId = input.lastEventId ?? null;
  let failures = 0;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let current: { unsubscribe(): void } | undefined;

  function connect(): void {
    timer = undefined;
    if (closed) return;
    let over = false;
    const end = (failure: BillingClientError) => {
      if (over || closed) return;
      over = true;
      current?.unsubscribe();
      current = undefined;
      handlers.onDown(failure);
      if (closed) return;
      if (handlers.onRefused && !isUnavailable(failure)) {
        closed = true;
        handlers.onRefused(failure);
        return;
      }
      const bound = Math.min(delays.maxDelayMs, delays.initialDelayMs * 2 ** Math.min(failures, 30));
      failures++;
      timer = setTimeout(connect, Math.random() * bound);
      // A process waiting only to reconnect may exit: the stream is no reason to stay alive.
      timer.unref?.();
    };
    const subscription = trpc.billing.limitsChanges.subscribe(
      { ...input, lastEventId },
      {
        onData(tracked) {
          if (over || closed) return;
          lastEventId = tracked.id;
          if (tracked.data.type === 'ready') failures = 0;
          handlers.onMessage({ ...tracked.data, id: tracked.id } as LimitsStreamMessage);
        },
        onError: (error) => end(error),
        onConnectionStateChange(state) {
          if (state.state === 'connecting' && state.error) end(state.error);
        },
        onComplete: () => end(new TRPCClientError('The service ended the stream')),
      },
    );
    if (over || closed) subscription.unsubscribe();
    else current = subscription;
  }

  connect();
  return {
    close() {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      current?.unsubscribe();
      current = undefined;
    },
  };
}

/**
 * The stream as an async iterable: its messages until `signal` aborts or the loop stops (both end
 * it quietly), or the service refuses it (thrown).
 */
export function iterateLimitsChanges(
  follow: (handlers: FollowHandlers) => LimitsFollower,
  signal: AbortSignal | undefined,
): AsyncIterableIterator<LimitsStreamMessage> {
  const queue: LimitsStreamMessage[] = [];
  let refused: BillingClientError | undefined;
  let ended = false;
  let wake: (() => void) | undefined;
  const wakeUp = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  let follower: LimitsFollower | undefined;
  const finish = () => {
    ended = true;
    follower?.close();
    signal?.removeEventListener('abort', abort);
    wakeUp();
  };
  // An abort ends the loop at once, messages still waiting included.
  const abort = () => {
    queue.length = 0;
    finish();
  };

  const iterator: AsyncIterableIterator<LimitsStreamMessage> = {
    async next() {
      follower ??= start();
      for (;;) {
        const message = queue.shift();
        if (message) return { value: message, done: false };
        if (refused) {
          const error = refused;
          refused = undefined;
          throw error;
        }
        if (ended) return { value: undefined, done: true };
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    },
    async return() {
      abort();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };

  function start(): LimitsFollower {
    if (signal?.aborted) {
      ended = true;
      return { close() {} };
    }
    signal?.addEventListener('abort', abort, { once: true });
    return follow({
      onMessage(message) {
        queue.push(message);
        wakeUp();
      },
      onDown() {},
      onRefused(failure) {
        // Thrown after the messages that came before it.
        refused = failure;
        finish();
      },
    });
  }

  return iterator;
}
