import type { EventType } from '../../contract/outbound-webhooks.js';
import type { AttemptOutcome, ClaimedDelivery, OutboxStore } from './outbox-store.js';
import { DEFAULT_RETRY_DELAYS_MS, retryDelayMs } from './retry-schedule.js';
import { type SignedRequest, signedRequest } from './signed-request.js';

/** An attempt's answer: the receiver's status, or why there was none (refused address, timeout, …). */
export type SendResult = { statusCode: number } | { error: string };

/** POSTs one signed request; never throws (a failure is a `SendResult` with an error). */
export type SendWebhook = (url: string, request: SignedRequest, timeoutMs: number) => Promise<SendResult>;

/** What a finished attempt meant, for metrics: `retried` = failed, to be tried again. */
export const DELIVERY_OUTCOMES = ['delivered', 'retried', 'failed'] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

export interface DispatcherOptions {
  store: Pick<OutboxStore, 'claimDue' | 'finishAttempt' | 'nextDueInMs' | 'pendingCount'>;
  send: SendWebhook;
  /** Stops the dispatcher: attempts under way finish, none starts after. */
  signal: AbortSignal;
  /** Longest wait between looks at the outbox when no notification wakes it (ms). */
  pollMs?: number | undefined;
  /** One attempt's limit (ms): no answer by then is a failure. */
  attemptTimeoutMs?: number | undefined;
  /** Waits after each failed attempt (see `DEFAULT_RETRY_DELAYS_MS`); tests shorten them. */
  retryDelaysMs?: readonly number[] | undefined;
  /** An endpoint failing every attempt for this long is disabled (ms). */
  disableAfterMs?: number | undefined;
  /** Deliveries attempted at once. */
  concurrency?: number | undefined;
  now?: (() => number) | undefined;
  onOutcome?: ((outcome: { eventType: EventType; outcome: DeliveryOutcome }) => void) | undefined;
  /** An endpoint disabled (410 Gone, or failing for `disableAfterMs`): an operator must look. */
  onEndpointDisabled?: ((endpoint: { endpointId: string; url: string; reason: string }) => void) | undefined;
  /** Pending deliveries, counted each time the dispatcher finds nothing due (for the gauge). */
  onPendingCount?: ((pending: number) => void) | undefined;
  /** The store failed; the dispatcher tries again at its next look. */
  onError?: ((error: unknown) => void) | undefined;
}

export interface Dispatcher {
  /** Look at the outbox now (a notification said deliveries were committed). */
  wake(): void;
  /** Resolves when the loop has stopped (after `signal` aborted) and its attempts have finished. */
  readonly stopped: Promise<void>;
}

const DAY_MS = 24 * 60 * 60 * 1_000;

/** 2xx delivers; 410 disables the endpoint; anything else (and no answer) is retried. */
function outcomeOf(result: SendResult, attempt: number, delays: readonly number[]): AttemptOutcome {
  if ('statusCode' in result && result.statusCode >= 200 && result.statusCode < 300) {
    return { kind: 'delivered', statusCode: result.statusCode };
  }
  if ('statusCode' in result && result.statusCode === 410) return { kind: 'gone', statusCode: 410 };
  const statusCode = 'statusCode' in result ? result.statusCode : null;
  const error = 'error' in result ? result.error : `answered ${result.statusCode}`;
  const retryInMs = retryDelayMs(delays, attempt);
  return retryInMs === undefined
    ? { kind: 'failed', statusCode, error }
    : { kind: 'retry', statusCode, error, retryInMs };
}

/**
 * Sends the outbox's deliveries: claims what is due (the store makes each claim one replica's),
 * signs and POSTs each, records the outcome and schedules the retry. It looks again as soon as a
 * batch is done, when woken (`wake`: a commit's notification), when the next retry is due, and
 * at least every `pollMs`. Every replica runs one.
 */
export function startDispatcher(options: DispatcherOptions): Dispatcher {
  const {
    store,
    send,
    signal,
    pollMs = 5_000,
    attemptTimeoutMs = 10_000,
    retryDelaysMs = DEFAULT_RETRY_DELAYS_MS,
    disableAfterMs = DAY_MS,
    concurrency = 8,
    now = Date.now,
  } = options;
  // A claim outlives its attempt: another replica takes it over only once this one is surely done.
  const leaseMs = attemptTimeoutMs + 20_000;
  let wakeUp: (() => void) | undefined;
  let woken = false;

  const attempt = async (delivery: ClaimedDelivery) => {
    let outcome: AttemptOutcome;
    try {
      const request = signedRequest(delivery, new Date(now()));
      outcome = outcomeOf(
        await send(delivery.url, request, attemptTimeoutMs),
        delivery.attempt,
        retryDelaysMs,
      );
    } catch (error) {
      // Data the contract does not describe can never be sent: given up at once, not claimed forever.
      outcome = { kind: 'failed', statusCode: null, error: `not sent: ${(error as Error).message}` };
    }
    const disabled = await store.finishAttempt(delivery, outcome, disableAfterMs);
    options.onOutcome?.({
      eventType: delivery.event.type,
      outcome: outcome.kind === 'delivered' ? 'delivered' : outcome.kind === 'retry' ? 'retried' : 'failed',
    });
    if (disabled) {
      options.onEndpointDisabled?.({
        endpointId: delivery.endpointId,
        url: delivery.url,
        reason: outcome.kind === 'gone' ? 'answered 410 Gone' : 'failed continuously',
      });
    }
  };

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = done;
      signal.addEventListener('abort', done, { once: true });
    });

  const loop = async () => {
    while (!signal.aborted) {
      woken = false;
      let waitMs = pollMs;
      try {
        const claimed = await store.claimDue(concurrency, leaseMs);
        // Claimed as the dispatcher was stopped: left to their claims' end, then to another replica.
        if (signal.aborted) break;
        if (claimed.length > 0) {
          // Every attempt of the batch ends before the next look, whichever of them failed.
          await Promise.all(
            claimed.map((delivery) =>
              attempt(delivery).catch((error: unknown) => {
                if (!signal.aborted) options.onError?.(error);
              }),
            ),
          );
          continue;
        }
        const dueIn = await store.nextDueInMs();
        options.onPendingCount?.(await store.pendingCount());
        if (dueIn !== undefined) waitMs = Math.min(pollMs, dueIn);
      } catch (error) {
        if (!signal.aborted) options.onError?.(error);
      }
      // A notification that came while this look was under way is not lost.
      if (!woken && !signal.aborted) await pause(Math.max(waitMs, 10));
    }
  };

  return {
    wake() {
      woken = true;
      wakeUp?.();
    },
    stopped: loop(),
  };
}
