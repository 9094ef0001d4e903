import type { LimitsChangedData } from '../../contract/outbound-webhooks.js';
import { orUnavailable, storeUnavailable } from '../errors.js';
import type { OutboxStore } from './outbox-store.js';

/** One message of a subscriber's stream: first `ready`, then every change in sequence order. */
export type LimitsFeedMessage =
  | { type: 'ready'; data: { sequence: number; resumed: boolean } }
  | { type: 'limits.changed'; data: LimitsChangedData };

export interface FollowOptions {
  /** Only this tenant's changes. */
  tenantId?: string | undefined;
  /** Resume after this sequence (the last event id the subscriber received). */
  lastEventId?: number | undefined;
  /** Ends the stream (the subscriber went away). */
  signal?: AbortSignal | undefined;
}

export interface LimitsChangeFeed {
  /**
   * A subscriber's stream: `ready` (where it continues from, and whether that is exactly after
   * `lastEventId`), the retained changes after that point, then each change as it commits. It ends
   * when `signal` aborts, when the feed closes, or when the subscriber falls `maxQueued` changes
   * behind (it resumes by reconnecting with its last event id).
   */
  follow(options?: FollowOptions): AsyncGenerator<LimitsFeedMessage, void, undefined>;
  /** Look for new changes now: a replica committed one (its notification). */
  wake(): void;
  /** Streams open now. */
  readonly subscribers: number;
}

export interface ChangeFeedOptions {
  store: Pick<OutboxStore, 'limitsChangesAfter' | 'limitsChangesPosition'>;
  /** Closes the feed: every stream ends. */
  signal: AbortSignal;
  /** Longest wait between looks when no notification wakes the feed (ms); only while streams are open. */
  pollMs?: number | undefined;
  /** Changes read per query. */
  batchSize?: number | undefined;
  /**
   * Changes a stream may have waiting before it is ended as too slow. Keep it above `batchSize`:
   * one read hands a whole batch on at once, to streams that are waiting as much as to slow ones.
   */
  maxQueued?: number | undefined;
  /** Reading failed; the feed reads again at its next look. */
  onError?: ((error: unknown) => void) | undefined;
}

interface Subscriber {
  tenantId: string | undefined;
  queue: LimitsChangedData[];
  /** Set when `maxQueued` was passed: the stream ends, the subscriber reconnects and replays. */
  overflowed: boolean;
  /** Resolves the subscriber's wait for its next change, if it waits. */
  wakeUp: (() => void) | undefined;
}

/**
 * The live `limits.changed` events of every replica, for the change streams. One reader per
 * process follows the outbox (woken by the replicas' commit notifications, and polling at least
 * every `pollMs` while a stream is open) and hands each new change to the streams that want it;
 * a stream starting or resuming replays what it missed from the outbox first. No change is missed
 * or repeated in between: a stream joins the reader before its replay, and skips what its replay
 * already sent. The writers' lock (`recordEvents`) makes changes commit in sequence order, so a
 * reader that has seen a sequence will never see a smaller one appear.
 */
export function createLimitsChangeFeed(options: ChangeFeedOptions): LimitsChangeFeed {
  const { store, signal, pollMs = 5_000, batchSize = 1_000, maxQueued = 10_000, onError } = options;
  const subscribers = new Set<Subscriber>();
  /** The newest sequence the reader handed on; undefined while no stream is open. */
  let cursor: number | undefined;
  /** Starts the reader at the newest committed change, once for every streak of open streams. */
  let starting: Promise<void> | undefined;
  let reading = false;
  let lookAgain = false;
  let poll: ReturnType<typeof setInterval> | undefined;

  const wakeUp = (subscriber: Subscriber) => {
    const wake = subscriber.wakeUp;
    subscriber.wakeUp = undefined;
    wake?.();
  };

  async function read(): Promise<void> {
    if (reading) {
      lookAgain = true;
      return;
    }
    reading = true;
    try {
      do {
        lookAgain = false;
        const from = cursor;
        if (from === undefined) return;
        const changes = await store.limitsChangesAfter(from, { limit: batchSize });
        // The streams may all have gone (and another streak begun) while this read ran.
        if (cursor !== from) continue;
        for (const change of changes) {
          cursor = change.sequence;
          for (const subscriber of subscribers) handOn(subscriber, change);
        }
        if (changes.length === batchSize) lookAgain = true;
      } while (lookAgain && !signal.aborted);
    } catch (error) {
      onError?.(error);
    } finally {
      reading = false;
    }
  }

  function handOn(subscriber: Subscriber, change: LimitsChangedData): void {
    if (subscriber.tenantId !== undefined && subscriber.tenantId !== change.tenant_id) return;
    if (subscriber.queue.length >= maxQueued) subscriber.overflowed = true;
    else subscriber.queue.push(change);
    wakeUp(subscriber);
  }

  function wake(): void {
    if (cursor !== undefined && !signal.aborted) void read();
  }

  async function join(subscriber: Subscriber): Promise<void> {
    if (cursor === undefined) {
      starting ??= store.limitsChangesPosition().then(({ newest }) => {
        cursor = newest;
        poll = setInterval(wake, pollMs);
        poll.unref();
      });
      try {
        await orUnavailable(starting);
      } finally {
        starting = undefined;
      }
    }
    subscribers.add(subscriber);
  }

  function leave(subscriber: Subscriber): void {
    if (!subscribers.delete(subscriber) || subscribers.size > 0) return;
    cursor = undefined;
    clearInterval(poll);
    poll = undefined;
  }

  const closed = () => {
    for (const subscriber of subscribers) wakeUp(subscriber);
  };
  signal.addEventListener('abort', closed, { once: true });

  async function* follow({ tenantId, lastEventId, signal: ended }: FollowOptions = {}) {
    // Closed (the store, or the server shutting down): refused, not an empty stream, so that the
    // caller is told to go elsewhere instead of being answered `ready` and then nothing.
    if (signal.aborted) throw storeUnavailable(new Error('the change feed is closed'));
    if (ended?.aborted) return;
    const subscriber: Subscriber = { tenantId, queue: [], overflowed: false, wakeUp: undefined };
    const stop = () => wakeUp(subscriber);
    ended?.addEventListener('abort', stop, { once: true });
    const over = () => signal.aborted || ended?.aborted === true || subscriber.overflowed;
    try {
      // Joined first: whatever commits from now on reaches the queue, whatever committed before
      // is in the replay below (and whatever is in both is sent once).
      await join(subscriber);
      // An unreachable store is `store_unavailable` (503: try again), as in every other read.
      const { newest, prunedThrough } = await orUnavailable(store.limitsChangesPosition());
      const resumed = lastEventId !== undefined && lastEventId >= prunedThrough && lastEventId <= newest;
      let sent = resumed ? lastEventId : newest;
      yield { type: 'ready', data: { sequence: sent, resumed } } as const;
      for (;;) {
        const replay = await orUnavailable(store.limitsChangesAfter(sent, { tenantId, limit: batchSize }));
        for (const change of replay) {
          if (over()) return;
          sent = change.sequence;
          yield { type: 'limits.changed', data: change } as const;
        }
        if (replay.length < batchSize) break;
      }
      while (!over()) {
        const change = subscriber.queue.shift();
        if (change === undefined) {
          await new Promise<void>((resolve) => {
            subscriber.wakeUp = resolve;
          });
        } else if (change.sequence > sent) {
          sent = change.sequence;
          yield { type: 'limits.changed', data: change } as const;
        }
      }
    } finally {
      ended?.removeEventListener('abort', stop);
      leave(subscriber);
    }
  }

  return {
    follow,
    wake,
    get subscribers() {
      return subscribers.size;
    },
  };
}
