import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink, type TRPCClient } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import { EventSource } from 'eventsource';
import type { AppRouter } from './app-router.js';
import { type BillingClientError, isBillingClientError, isUnavailable } from './failures.js';
import { LastKnownAnswers } from './last-known.js';
import { abortedCall, LimitsMirrorState } from './limits-mirror.js';
import {
  type FollowHandlers,
  followLimitsChanges,
  iterateLimitsChanges,
  type LimitsStreamMessage,
} from './limits-stream.js';
import { DEFAULT_RETRY, type RetryOptions, withRetries } from './retry.js';
import { streamFetch } from './stream-fetch.js';

export type { AppRouter } from './app-router.js';
export {
  type BillingClientError,
  conflictCodeOf,
  isBillingClientError,
  isUnavailable,
} from './failures.js';
export type { LimitsStreamMessage } from './limits-stream.js';
export type { RetryOptions } from './retry.js';

type Inputs = inferRouterInputs<AppRouter>;
type Outputs = inferRouterOutputs<AppRouter>;

/** `limits()`'s input: the tenant, and its plan where the service trusts the caller's (`header` mode). */
export type LimitsInput = Inputs['billing']['limits'];
/** The service's answer to `GET /billing/limits`. */
export type BillingLimitsResponse = Outputs['billing']['limits'];
/** `reserve()`'s input: as the procedure's, with the idempotency key generated when left out. */
export type ReserveInput = Omit<Inputs['billing']['reserve'], 'idempotency_key'> & {
  idempotency_key?: string;
};
/** A granted reservation (or the first grant for its idempotency key, answered again). */
export type Reservation = Outputs['billing']['reserve'];
/** `renew()`'s input: the tenant, the reservation, and the new lease (left out: the length last granted). */
export type RenewInput = Inputs['billing']['renew'];

/** What `limits()` answers when the service cannot: see {@link BillingClientOptions.onUnavailable}. */
export type OnUnavailable = 'last-known' | 'fail-closed' | 'fail-open';

export interface BillingClientOptions {
  /** Where the service runs, e.g. `http://127.0.0.1:8000`. */
  url: string;
  /** A worker token, or a function returning the current one (called for every request: rotation). */
  token: string | (() => string | Promise<string>);
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** How long one request may take before it is given up as unavailable (default 10,000 ms; 0 = no limit). */
  timeoutMs?: number;
  /**
   * What `limits()` answers when the service cannot (network failure, timeout, 5xx):
   * - `'last-known'` (default): the last answer it gave for this tenant and plan, if fetched at most
   *   `maxStaleMs` ago; else the failure is thrown;
   * - `'fail-closed'`: the failure is thrown, always;
   * - `'fail-open'`: the last answer as for `'last-known'`, else unlimited (`null` limits, no plan).
   */
  onUnavailable?: OnUnavailable;
  /** How old a remembered answer may be and still be given (default 900,000 ms, as the service's own `BILLING_STALE_MAX_MS`). */
  maxStaleMs?: number;
  /** How many tenant answers `limits()` remembers; the least recently answered goes first (default 10,000). */
  lastKnownMaxEntries?: number;
  /**
   * How `reserve()` and `renew()` retry a call the service did not answer; the change stream
   * (`watchLimits()`, `createLimitsMirror()`) waits as these retries do before it connects again.
   */
  retry?: RetryOptions;
  /**
   * How long the change stream may stay silent before the connection is taken for dead and made
   * again (default 45,000 ms: three of the service's 15 s heartbeats; 0 = never).
   */
  streamIdleMs?: number;
}

/** Per call: `signal` cancels it (retries and waits included). */
export interface CallOptions {
  signal?: AbortSignal;
}

/** An answer the service gave in this call. */
export interface ServiceAnswer extends BillingLimitsResponse {
  source: 'service';
  fetchedAt: Date;
}

/** The service could not answer; this is its last answer for the tenant, from `fetchedAt`. */
export interface LastKnownAnswer extends BillingLimitsResponse {
  source: 'last-known';
  fetchedAt: Date;
  /** Why the service was not asked successfully. */
  unavailable: BillingClientError;
}

/** The service could not answer and nothing recent was remembered: everything is allowed. */
export interface FailOpenAnswer {
  tenant_id: string;
  limits: { deployments: null; self_hosted_workers: null; plan_type: null };
  source: 'fail-open';
  fetchedAt: null;
  unavailable: BillingClientError;
}

export type LimitsAnswer = ServiceAnswer | LastKnownAnswer | FailOpenAnswer;

/** An answer a limits mirror gave from memory, kept true by the live change stream. */
export interface MirrorAnswer extends BillingLimitsResponse {
  source: 'mirror';
  /** When the mirror fetched it, or last updated it from the stream. */
  fetchedAt: Date;
}

/** What a limits mirror answers: from memory (`'mirror'`), else as `limits()` does. */
export type MirrorLimitsAnswer = MirrorAnswer | LimitsAnswer;

/** `watchLimits()`'s options. */
export interface WatchLimitsOptions {
  /** Only this tenant's changes (left out: every tenant's). */
  tenantId?: string;
  /** Resume right after this event id (a message's `id`): what came after it is replayed first. */
  lastEventId?: string;
  /** Ends the stream: the loop over it ends, quietly. */
  signal?: AbortSignal;
}

/** `createLimitsMirror()`'s options. */
export interface LimitsMirrorOptions {
  /** Closes the mirror, as `close()` does. */
  signal?: AbortSignal;
}

/** Every tenant's limits this process asks for, kept in memory and kept true by the change stream. */
export interface LimitsMirror {
  /**
   * The tenant's limits: from memory while the stream vouches for them (`source: 'mirror'`, no
   * round trip), else from the service, else as the client's `onUnavailable` says — see the
   * README's "Limits mirror".
   */
  limits(input: { tenantId: string }, options?: CallOptions): Promise<MirrorLimitsAnswer>;
  /** Whether the change stream is connected now (its `ready` came, and nothing has failed since). */
  readonly live: boolean;
  /** Tenants kept (at most the client's `lastKnownMaxEntries`). */
  readonly size: number;
  /**
   * Stops the stream and any wait to reconnect, and forgets what was kept: afterwards `limits()`
   * answers as the client's `limits()` does.
   */
  close(): void;
}

/** What the client adds to the service's procedures: the calls a caller would otherwise wrap by hand. */
export interface BillingClientHelpers {
  /**
   * The tenant's limits, from the service, else as `onUnavailable` says; `source` tells which and
   * `fetchedAt` when the service gave it. A 4xx (unknown tenant, bad token, bad input) is thrown
   * as is, and an unknown tenant is forgotten.
   */
  limits(input: LimitsInput, options?: CallOptions): Promise<LimitsAnswer>;
  /**
   * Reserves capacity. Without `idempotency_key` one is generated; a call the service did not
   * answer (network failure, timeout, 5xx) is retried with the SAME key, so a grant whose answer
   * was lost is answered again, never granted twice. Pass your own key to retry later yourself.
   */
  reserve(input: ReserveInput, options?: CallOptions): Promise<Reservation>;
  /**
   * Extends a leased reservation to now + `lease_seconds` (left out: the length last granted). A
   * call the service did not answer (network failure, timeout, 5xx) is retried as `reserve()` is:
   * renewing twice only moves `expires_at` again. A refusal is thrown at once, never retried: 404
   * (no such reservation), 400 (bad input), and 409 — `conflictCodeOf(error)` tells
   * `reservation_expired` (its capacity is gone: reserve again), `reservation_released` and
   * `not_leased` apart.
   */
  renew(input: RenewInput, options?: CallOptions): Promise<Reservation>;
  /**
   * The change stream (`billing.limitsChanges`): `ready` first on every connection, then every
   * `limits.changed` in `sequence` order, each with its event `id`. A lost connection is made again
   * after a short wait, resuming after the last id received (`ready.data.resumed` says whether the
   * stream could; if not, changes may have been missed). Ends when `signal` aborts or the loop
   * stops; a refusal (a bad token, bad input, a service without a database) is thrown.
   */
  watchLimits(options?: WatchLimitsOptions): AsyncIterableIterator<LimitsStreamMessage>;
  /** A mirror of every tenant's limits this process asks for: see {@link LimitsMirror}. */
  createLimitsMirror(options?: LimitsMirrorOptions): LimitsMirror;
}

/** Every procedure of the service (`billing.*`, `admin.*`), typed, and the helpers. */
export type BillingClient = TRPCClient<AppRouter> & BillingClientHelpers;

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_STALE_MS = 900_000;
const DEFAULT_LAST_KNOWN_ENTRIES = 10_000;
const DEFAULT_STREAM_IDLE_MS = 45_000;
/** An event id as the stream sends it: a sequence number in decimal. */
const EVENT_ID = /^(0|[1-9][0-9]{0,14})$/;
const ON_UNAVAILABLE: readonly OnUnavailable[] = ['last-known', 'fail-closed', 'fail-open'];

/**
 * A typed client for TypeScript callers: inputs and outputs come from the service's own zod schemas.
 *
 * @example
 * const billing = createBillingClient({ url: 'http://127.0.0.1:8000', token });
 * const answer = await billing.limits({ tenantId: 'org-123' });
 * if (answer.source !== 'service') console.warn('billing service unavailable', answer.unavailable.message);
 * const { limits } = await billing.billing.limits.query({ tenantId: 'org-123' }); // the procedure itself
 */
export function createBillingClient(options: BillingClientOptions): BillingClient {
  const settings = checked(options);
  const url = `${settings.url.replace(/\/+$/, '')}/trpc`;
  const baseFetch = settings.fetch ?? globalThis.fetch;
  const tokenOf = async () => {
    const { token } = settings;
    return typeof token === 'string' ? token : await token();
  };
  const trpc = createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        // Server-sent events through the `eventsource` ponyfill (Node 20 has no EventSource), whose
        // `fetch` option is the only way to send the token: the Authorization header, asked for
        // every connection.
        true: httpSubscriptionLink({
          url,
          EventSource,
          eventSourceOptions: () => ({
            fetch: streamFetch({
              fetch: baseFetch,
              token: tokenOf,
              timeoutMs: settings.timeoutMs,
              idleMs: settings.streamIdleMs,
            }),
          }),
        }),
        false: httpLink({
          url,
          fetch: withTimeout(baseFetch, settings.timeoutMs),
          async headers() {
            return { authorization: `Bearer ${await tokenOf()}` };
          },
        }),
      }),
    ],
  });
  const remembered = new LastKnownAnswers<BillingLimitsResponse>(settings.lastKnownMaxEntries);
  const follow = (input: { tenantId?: string; lastEventId?: string }) => (handlers: FollowHandlers) =>
    followLimitsChanges(trpc, input, handlers, settings.retry);

  const helpers: BillingClientHelpers = {
    async limits(input, { signal } = {}) {
      const key = `${input.tenantId}\n${input.planType ?? ''}`;
      try {
        const answer = await trpc.billing.limits.query(input, { signal });
        const fetchedAt = new Date();
        if (settings.onUnavailable !== 'fail-closed') remembered.remember(key, answer, fetchedAt);
        return { ...answer, source: 'service', fetchedAt };
      } catch (error) {
        if (isBillingClientError(error) && error.data?.code === 'NOT_FOUND') remembered.forget(key);
        if (!isUnavailable(error) || signal?.aborted || settings.onUnavailable === 'fail-closed') throw error;
        const unavailable = error as BillingClientError;
        const last = remembered.recall(key, settings.maxStaleMs, Date.now());
        if (last) return { ...last.answer, source: 'last-known', fetchedAt: last.fetchedAt, unavailable };
        if (settings.onUnavailable === 'last-known') throw error;
        return failOpen(input.tenantId, unavailable);
      }
    },
    reserve({ idempotency_key = globalThis.crypto.randomUUID(), ...request }, { signal } = {}) {
      const input = { ...request, idempotency_key };
      return withRetries(() => trpc.billing.reserve.mutate(input, { signal }), settings.retry, signal);
    },
    renew(input, { signal } = {}) {
      return withRetries(() => trpc.billing.renew.mutate(input, { signal }), settings.retry, signal);
    },
    watchLimits(watch = {}) {
      const { tenantId, lastEventId, signal } = checkedWatch(watch);
      return iterateLimitsChanges(follow({ tenantId, lastEventId }), signal);
    },
    createLimitsMirror({ signal } = {}) {
      checkedSignal('createLimitsMirror', signal);
      return limitsMirror(signal);
    },
  };

  function limitsMirror(signal: AbortSignal | undefined): LimitsMirror {
    const state = new LimitsMirrorState<BillingLimitsResponse, BillingClientError>({
      fetchLimits: (tenantId) => trpc.billing.limits.query({ tenantId }),
      follow: follow({}),
      onUnavailable: settings.onUnavailable,
      maxStaleMs: settings.maxStaleMs,
      maxEntries: settings.lastKnownMaxEntries,
    });
    const close = () => {
      signal?.removeEventListener('abort', close);
      state.close();
    };
    if (signal?.aborted) close();
    else signal?.addEventListener('abort', close, { once: true });
    return {
      async limits({ tenantId }, { signal: callSignal } = {}) {
        if (state.closed) return helpers.limits({ tenantId }, { signal: callSignal });
        const recalled = state.fromMemory(tenantId, Date.now());
        if (recalled) {
          const { answer, ...how } = recalled;
          return { ...answer, ...how };
        }
        try {
          const { answer, fetchedAt } = await untilAborted(state.fetch(tenantId), callSignal);
          return { ...answer, source: 'service', fetchedAt };
        } catch (error) {
          if (!isUnavailable(error) || callSignal?.aborted || settings.onUnavailable === 'fail-closed') {
            throw error;
          }
          const unavailable = error as BillingClientError;
          const last = state.recall(tenantId, Date.now(), unavailable);
          if (last) {
            const { answer, ...how } = last;
            return { ...answer, ...how };
          }
          if (settings.onUnavailable === 'last-known') throw error;
          return failOpen(tenantId, unavailable);
        }
      },
      get live() {
        return state.live;
      },
      get size() {
        return state.size;
      },
      close,
    };
  }

  // The procedures stay where tRPC puts them (`billing.billing.limits.query(…)`); the helpers sit
  // beside them. tRPC's client is a proxy answering any name, so the helpers are looked up first.
  return new Proxy(helpers, {
    get: (target, name) => (name in target ? Reflect.get(target, name) : Reflect.get(trpc, name)),
  }) as BillingClient;
}

/** Everything allowed: the service could not answer and nothing recent was remembered. */
function failOpen(tenantId: string, unavailable: BillingClientError): FailOpenAnswer {
  const limits = { deployments: null, self_hosted_workers: null, plan_type: null };
  return { tenant_id: tenantId, limits, source: 'fail-open', fetchedAt: null, unavailable };
}

/**
 * `promise`, or the caller's abort thrown as a failed call, whichever comes first: a mirror's fetch
 * is shared by every caller asking for the tenant meanwhile, so one caller's abort ends only its
 * own wait.
 */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortedCall(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedCall(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** `watchLimits()`'s options, refused with a plain message when they cannot work. */
function checkedWatch(options: WatchLimitsOptions): WatchLimitsOptions {
  const refuse = (what: string): never => {
    throw new TypeError(`watchLimits: ${what}`);
  };
  const { tenantId, lastEventId, signal } = options;
  if (tenantId !== undefined && (typeof tenantId !== 'string' || tenantId === '')) {
    refuse(`tenantId must be a non-empty string, got ${JSON.stringify(tenantId)}`);
  }
  if (lastEventId !== undefined && !(typeof lastEventId === 'string' && EVENT_ID.test(lastEventId))) {
    refuse(
      `lastEventId must be an event id the stream sent (a whole number), got ${JSON.stringify(lastEventId)}`,
    );
  }
  checkedSignal('watchLimits', signal);
  return { tenantId, lastEventId, signal };
}

function checkedSignal(method: string, signal: unknown): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`${method}: signal must be an AbortSignal`);
  }
}

type Settings = Required<Omit<BillingClientOptions, 'fetch' | 'retry'>> &
  Pick<BillingClientOptions, 'fetch'> & { retry: Required<RetryOptions> };

/** The options with their defaults, refused with a plain message when they cannot work. */
function checked(options: BillingClientOptions): Settings {
  const refuse = (what: string): never => {
    throw new TypeError(`createBillingClient: ${what}`);
  };
  const finite = (name: string, value: number) =>
    Number.isFinite(value) && value >= 0
      ? value
      : refuse(`${name} must be a non-negative finite number, got ${String(value)}`);

  if (!/^https?:$/.test(protocolOf(options.url))) {
    refuse(`url must be an absolute http(s) URL, got ${JSON.stringify(options.url)}`);
  }
  if (!(typeof options.token === 'function' || (typeof options.token === 'string' && options.token !== ''))) {
    refuse('token must be a non-empty string or a function returning one');
  }
  const { onUnavailable = 'last-known', maxStaleMs = DEFAULT_MAX_STALE_MS } = options;
  if (!ON_UNAVAILABLE.includes(onUnavailable)) {
    refuse(`onUnavailable must be one of ${ON_UNAVAILABLE.map((mode) => `'${mode}'`).join(', ')}`);
  }
  // Infinity is a bound too: remembered answers never expire.
  if (!(typeof maxStaleMs === 'number' && maxStaleMs >= 0)) {
    refuse(`maxStaleMs must be a non-negative number, got ${String(maxStaleMs)}`);
  }
  const retry = { ...DEFAULT_RETRY, ...options.retry };
  if (!Number.isInteger(retry.attempts) || retry.attempts < 1) {
    refuse(`retry.attempts must be a whole number of at least 1, got ${retry.attempts}`);
  }
  return {
    url: options.url,
    token: options.token,
    fetch: options.fetch,
    timeoutMs: finite('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    onUnavailable,
    maxStaleMs,
    lastKnownMaxEntries: finite(
      'lastKnownMaxEntries',
      options.lastKnownMaxEntries ?? DEFAULT_LAST_KNOWN_ENTRIES,
    ),
    streamIdleMs: finite('streamIdleMs', options.streamIdleMs ?? DEFAULT_STREAM_IDLE_MS),
    retry: {
      attempts: retry.attempts,
      initialDelayMs: finite('retry.initialDelayMs', retry.initialDelayMs),
      maxDelayMs: finite('retry.maxDelayMs', retry.maxDelayMs),
    },
  };
}

/** `http:` for `http://…`; empty for what is not an absolute URL (`URL.parse` needs Node 22). */
function protocolOf(url: unknown): string {
  try {
    return new URL(String(url)).protocol;
  } catch {
    return '';
  }
}

/**
 * Every request given up after `timeoutMs` (besides the caller's own signal), unless it is 0; the
 * answer's body is read within the same time.
 *
 * Not `AbortSignal.timeout()`: inside `AbortSignal.any()` Node (20.x at least, nodejs/node#57736)
 * may garbage-collect the timeout signal before it fires, and the request then hangs for ever. The
 * timer here holds its controller; unref'd, it keeps no process alive.
 */
function withTimeout(base: typeof fetch, timeoutMs: number): typeof fetch {
  if (timeoutMs === 0) return base;
  return (input, init) => {
    const deadline = new AbortController();
    setTimeout(() => deadline.abort(timedOut()), timeoutMs).unref();
    const signal = init?.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal;
    return base(input, { ...init, signal });
  };
}

/** The reason `AbortSignal.timeout()` gives: a `TimeoutError`. */
function timedOut(): DOMException {
  return new DOMException('The operation was aborted due to timeout', 'TimeoutError');
}
