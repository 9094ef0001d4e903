import { createTRPCClient, httpLink, type TRPCClient } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from './app-router.js';
import { type BillingClientError, isBillingClientError, isUnavailable } from './failures.js';
import { LastKnownAnswers } from './last-known.js';
import { DEFAULT_RETRY, type RetryOptions, withRetries } from './retry.js';

export type { AppRouter } from './app-router.js';
export {
  type BillingClientError,
  conflictCodeOf,
  isBillingClientError,
  isUnavailable,
} from './failures.js';
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
  /** How `reserve()` and `renew()` retry a call the service did not answer. */
  retry?: RetryOptions;
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
}

/** Every procedure of the service (`billing.*`, `admin.*`), typed, and the helpers. */
export type BillingClient = TRPCClient<AppRouter> & BillingClientHelpers;

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_STALE_MS = 900_000;
const DEFAULT_LAST_KNOWN_ENTRIES = 10_000;
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
  const trpc = createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${settings.url.replace(/\/+$/, '')}/trpc`,
        fetch: withTimeout(settings.fetch ?? globalThis.fetch, settings.timeoutMs),
        async headers() {
          const { token } = settings;
          return { authorization: `Bearer ${typeof token === 'string' ? token : await token()}` };
        },
      }),
    ],
  });
  const remembered = new LastKnownAnswers<BillingLimitsResponse>(settings.lastKnownMaxEntries);

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
        const limits = { deployments: null, self_hosted_workers: null, plan_type: null };
        return { tenant_id: input.tenantId, limits, source: 'fail-open', fetchedAt: null, unavailable };
      }
    },
    reserve({ idempotency_key = globalThis.crypto.randomUUID(), ...request }, { signal } = {}) {
      const input = { ...request, idempotency_key };
      return withRetries(() => trpc.billing.reserve.mutate(input, { signal }), settings.retry, signal);
    },
    renew(input, { signal } = {}) {
      return withRetries(() => trpc.billing.renew.mutate(input, { signal }), settings.retry, signal);
    },
  };

  // The procedures stay where tRPC puts them (`billing.billing.limits.query(…)`); the helpers sit
  // beside them. tRPC's client is a proxy answering any name, so the helpers are looked up first.
  return new Proxy(helpers, {
    get: (target, name) => (name in target ? Reflect.get(target, name) : Reflect.get(trpc, name)),
  }) as BillingClient;
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
