import { TIMED_OUT, within } from './deadline.js';
import { DomainError, orUnavailable } from './errors.js';
import type { BillingStore } from './store.js';

/** What this replica knows of its store's reachability, on the app's clock (ms since the epoch). */
export interface StoreHealthState {
  /** The store answered the last contact that tells (false before the first). */
  readonly up: boolean;
  /**
   * While not up: when the outage was first noticed — or when this replica started, if it has
   * never reached the store. `undefined` while up.
   */
  readonly since: number | undefined;
  /** The last time the store answered; `undefined` if it never has since this replica started. */
  readonly lastReachedAt: number | undefined;
  readonly everReached: boolean;
  /** How long the store has been unreachable as far as this replica knows (0 while up). */
  readonly unreachableSeconds: number;
}

export interface StoreHealth {
  /**
   * Runs one store operation and records what it tells: an answer is contact, a connection-level
   * failure (see `orUnavailable`) makes the store unreachable, a fault of ours (a refused statement,
   * a bug) tells nothing. Fails as `orUnavailable` does.
   */
  watch<T>(operation: () => Promise<T>): Promise<T>;
  /** The store did not answer an operation started at `startedAt` within a caller's patience. */
  unanswered(startedAt: number): void;
  state(): StoreHealthState;
}

/** Whether a failure, as `orUnavailable` reports it, says the store could not be talked to. */
const isStoreUnavailable = (error: unknown): boolean =>
  error instanceof DomainError && error.code === 'store_unavailable';

/**
 * Tracks whether the store answers, from the contacts the replica makes anyway (readiness
 * probes, limits reads). A failure of an operation that started before the latest answer is
 * ignored: it says the store was down then, not that it is now — requests queued during an
 * outage keep failing for a moment after the store is back.
 */
export function createStoreHealth({ now }: { now: () => number }): StoreHealth {
  const startedAt = now();
  let up = false;
  let since: number | undefined = startedAt;
  let lastReachedAt: number | undefined;

  const reached = () => {
    up = true;
    since = undefined;
    lastReachedAt = now();
  };
  const unreachable = (operationStartedAt: number) => {
    if (lastReachedAt !== undefined && operationStartedAt < lastReachedAt) return;
    if (up || since === undefined) since = now();
    up = false;
  };

  return {
    async watch(operation) {
      const operationStartedAt = now();
      try {
        const result = await orUnavailable(operation());
        reached();
        return result;
      } catch (error) {
        if (isStoreUnavailable(error)) unreachable(operationStartedAt);
        throw error;
      }
    },
    unanswered: unreachable,
    state() {
      return {
        up,
        since,
        lastReachedAt,
        everReached: lastReachedAt !== undefined,
        unreachableSeconds: since === undefined ? 0 : Math.max(0, now() - since) / 1000,
      };
    },
  };
}

/** Whether this replica should take traffic, as far as its store goes. */
export type StoreReadiness =
  | { readonly status: 'ok' }
  /** The store is unreachable, but what this replica knows is recent enough to answer from. */
  | { readonly status: 'degraded'; readonly since: number }
  | { readonly status: 'unavailable' }
  | { readonly status: 'migrations_pending'; readonly pending: number };

export interface StoreReadinessOptions {
  store: Pick<BillingStore, 'ping' | 'pendingMigrations'>;
  health: StoreHealth;
  now: () => number;
  /** How long an outage may last, since the store last answered, before the replica is unready (0 = no limit). */
  staleMaxMs: number;
  /** How long a check waits for the store before calling it unreachable. */
  timeoutMs: number;
}

/**
 * How long a check in flight is shared. A ping can hang for good (a connection whose peer vanished
 * without a word: no TCP error ever comes); past this, the next probe asks again, so readiness
 * recovers once the store is back, at the cost of one more waiting query per this long at most.
 */
export const SHARED_CHECK_MAX_MS = 5_000;

const UNAVAILABLE: StoreReadiness = Object.freeze({ status: 'unavailable' });
const OK: StoreReadiness = Object.freeze({ status: 'ok' });

/**
 * Asks the store (a ping, then the migrations it lacks) and decides: ok; degraded while the
 * store is unreachable but answered within `staleMaxMs` (what the cache holds is recent enough
 * to serve: taking this replica out would leave nothing to answer the Engine); unavailable once
 * the outage outlasts that, when the store never answered, or when it answers with a fault.
 * Migrations can't be counted while the store is away: the last count stands.
 *
 * A check in flight is shared (for up to `SHARED_CHECK_MAX_MS`): when the store hangs, probes
 * every few seconds would otherwise pile queries up in the connection pool's queue (tens of
 * seconds to drain, measured).
 */
export function createStoreReadiness(options: StoreReadinessOptions): () => Promise<StoreReadiness> {
  const { store, health, now, staleMaxMs, timeoutMs } = options;
  let pendingMigrations: number | undefined;
  let inFlight: { startedAt: number; counting: Promise<number> } | undefined;

  function ask() {
    const startedAt = now();
    const counting = (async () => {
      await health.watch(() => store.ping());
      pendingMigrations = await health.watch(() => store.pendingMigrations());
      return pendingMigrations;
    })();
    const check = { startedAt, counting };
    const done = () => {
      if (inFlight === check) inFlight = undefined;
    };
    counting.then(done, done);
    return check;
  }

  function decide(): StoreReadiness {
    const { up, since, lastReachedAt } = health.state();
    if (lastReachedAt === undefined || pendingMigrations === undefined) return UNAVAILABLE;
    if (pendingMigrations > 0) return { status: 'migrations_pending', pending: pendingMigrations };
    if (up) return OK;
    if (staleMaxMs > 0 && now() - lastReachedAt > staleMaxMs) return UNAVAILABLE;
    return { status: 'degraded', since: since ?? lastReachedAt };
  }

  return async () => {
    if (inFlight && now() - inFlight.startedAt >= SHARED_CHECK_MAX_MS) inFlight = undefined;
    inFlight ??= ask();
    const { startedAt, counting } = inFlight;
    try {
      if ((await within(counting, timeoutMs)) === TIMED_OUT) health.unanswered(startedAt);
    } catch (error) {
      // The store answered, with a fault (a refused statement): not something to route traffic to.
      if (!isStoreUnavailable(error)) return UNAVAILABLE;
    }
    return decide();
  };
}
