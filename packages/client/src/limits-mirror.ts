import { TRPCClientError } from '@trpc/client';
import { type BillingClientError, isBillingClientError } from './failures.js';
import type { FollowHandlers, LimitsFollower } from './limits-stream.js';

/** A tenant's limits as the service answers them (`billing.limits`). */
export interface MirroredLimits {
  tenant_id: string;
  limits: { deployments: number | null; self_hosted_workers: number | null; plan_type: string };
}

/** What the mirror needs of the client: the procedure, the stream, and the client's policy. */
export interface MirrorDependencies<Answer extends MirroredLimits> {
  /** `billing.limits` for one tenant: the service's answer, or its failure thrown. */
  fetchLimits(tenantId: string): Promise<Answer>;
  /** The whole change stream (no tenant filter), followed across connections. */
  follow(handlers: FollowHandlers): LimitsFollower;
  onUnavailable: 'last-known' | 'fail-closed' | 'fail-open';
  maxStaleMs: number;
  maxEntries: number;
}

/** An answer from memory: vouched for by the live stream, or the last one while it is down. */
export type Recalled<Answer, Failure> =
  | { answer: Answer; source: 'mirror'; fetchedAt: Date }
  | { answer: Answer; source: 'last-known'; fetchedAt: Date; unavailable: Failure };

/**
 * - `live`: covered by the stream, which is connected: any change to it arrives as an event.
 * - `held`: was `live` when the stream was lost; true as of then. Live again if the stream resumes.
 * - `off-stream`: fetched while the stream was down; what happened after is not known to be replayed.
 * - `stale`: may have missed changes (a gap the stream could not replay): fetched again on next use.
 */
type State = 'live' | 'held' | 'off-stream' | 'stale';

interface Kept<Answer> {
  answer: Answer;
  state: State;
  /** When it was fetched or last updated from the stream (a mirror answer's `fetchedAt`). */
  updatedAt: Date;
  /** When the service last vouched for it: fetched, updated, or the moment a live stream was lost. */
  vouchedAt: number;
  /** The last event applied to it (0: none). */
  sequence: number;
}

/** The service's answer, and when it came: the `fetchedAt` the mirror reports for it from then on. */
export interface Fetched<Answer> {
  answer: Answer;
  fetchedAt: Date;
}

interface Fetch<Answer> {
  promise: Promise<Fetched<Answer>>;
  /** The stream was live and this connection's when the fetch began. */
  startedLive: boolean;
  generation: number;
  /** An event for the tenant came while the fetch ran: its answer, newer or not, wins. */
  overtakenBy: { answer: Answer; sequence: number } | undefined;
}

/**
 * Every tenant's limits kept in memory, kept true by the change stream. See `createLimitsMirror`
 * in index.ts for the behaviour callers see; this is its bookkeeping.
 */
export class LimitsMirrorState<Answer extends MirroredLimits, Failure extends BillingClientError> {
  readonly #kept = new Map<string, Kept<Answer>>();
  readonly #fetches = new Map<string, Fetch<Answer>>();
  readonly #deps: MirrorDependencies<Answer>;
  readonly #follower: LimitsFollower;
  #live = false;
  /** Counts the stream's losses: a fetch that spans one cannot tell what it missed. */
  #generation = 0;
  /** Why the stream is down (undefined while it connects for the first time, or is live). */
  #failure: Failure | undefined;
  #closed = false;

  constructor(deps: MirrorDependencies<Answer>) {
    this.#deps = deps;
    this.#follower = deps.follow({
      onMessage: (message) => {
        if (message.type === 'ready') this.#ready(message.data.resumed);
        else this.#changed(message.data.tenant_id, message.data.sequence, message.data.after);
      },
      onDown: (failure) => this.#down(failure as Failure),
      // Refused (a bad token; a service without a database has no stream): nothing will vouch for
      // what is kept, so every answer is asked of the service, with memory only for its failures.
      onRefused: () => {
        this.#failure = undefined;
      },
    });
  }

  get live(): boolean {
    return this.#live;
  }

  get size(): number {
    return this.#kept.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#live = false;
    this.#follower.close();
    this.#kept.clear();
  }

  /**
   * The kept answer without a round trip where the stream vouches for it (or, while it is down,
   * vouched for it at most `maxStaleMs` ago); else `undefined`: ask the service.
   */
  fromMemory(tenantId: string, now: number): Recalled<Answer, Failure> | undefined {
    const kept = this.#touch(tenantId);
    if (!kept) return undefined;
    if (this.#live) {
      return kept.state === 'live'
        ? { answer: kept.answer, source: 'mirror', fetchedAt: kept.updatedAt }
        : undefined;
    }
    const down = this.#failure;
    if (down === undefined || this.#deps.onUnavailable === 'fail-closed') return undefined;
    return this.#recall(kept, now, down);
  }

  /** The service's answer for the tenant, kept (single flight: concurrent callers share one fetch). */
  fetch(tenantId: string): Promise<Fetched<Answer>> {
    const running = this.#fetches.get(tenantId);
    if (running) return running.promise;
    const fetch: Fetch<Answer> = {
      promise: this.#deps.fetchLimits(tenantId).then(
        (answer) => {
          // One timestamp for the caller's answer and the kept one: a later answer from memory
          // reports the same `fetchedAt` as the fetch that brought it.
          const fetched = { answer, fetchedAt: new Date() };
          this.#fetched(tenantId, fetch, fetched);
          return fetched;
        },
        (error: unknown) => {
          if (this.#fetches.get(tenantId) === fetch) this.#fetches.delete(tenantId);
          if (isBillingClientError(error) && error.data?.code === 'NOT_FOUND') this.#kept.delete(tenantId);
          throw error;
        },
      ),
      startedLive: this.#live,
      generation: this.#generation,
      overtakenBy: undefined,
    };
    this.#fetches.set(tenantId, fetch);
    return fetch.promise;
  }

  /** After the service could not answer: the kept answer if vouched for recently enough. */
  recall(tenantId: string, now: number, unavailable: Failure): Recalled<Answer, Failure> | undefined {
    const kept = this.#kept.get(tenantId);
    return kept ? this.#recall(kept, now, unavailable) : undefined;
  }

  #recall(kept: Kept<Answer>, now: number, unavailable: Failure): Recalled<Answer, Failure> | undefined {
    if (now - kept.vouchedAt > this.#deps.maxStaleMs) return undefined;
    return { answer: kept.answer, source: 'last-known', fetchedAt: new Date(kept.vouchedAt), unavailable };
  }

  #fetched(tenantId: string, fetch: Fetch<Answer>, { answer, fetchedAt }: Fetched<Answer>): void {
    if (this.#fetches.get(tenantId) === fetch) this.#fetches.delete(tenantId);
    if (this.#closed) return;
    const overtaken = fetch.overtakenBy;
    if (overtaken) {
      // The event is ordered against every other change; the fetch is not (it may have read the
      // database before or after the event's change). Keep the event's answer: any change after
      // it arrives as an event too.
      this.#keep(tenantId, overtaken.answer, 'live', overtaken.sequence, fetchedAt);
      return;
    }
    const unbroken = fetch.startedLive && this.#live && fetch.generation === this.#generation;
    const previous = this.#kept.get(tenantId);
    this.#keep(
      tenantId,
      answer,
      unbroken ? 'live' : this.#live ? 'stale' : 'off-stream',
      previous?.sequence ?? 0,
      fetchedAt,
    );
  }

  #keep(tenantId: string, answer: Answer, state: State, sequence: number, at: Date): void {
    if (this.#deps.maxEntries === 0) return;
    this.#kept.delete(tenantId);
    this.#kept.set(tenantId, { answer, state, updatedAt: at, vouchedAt: at.getTime(), sequence });
    if (this.#kept.size > this.#deps.maxEntries) {
      const oldest = this.#kept.keys().next();
      if (!oldest.done) this.#kept.delete(oldest.value);
    }
  }

  /** The kept entry, made the most recently used. */
  #touch(tenantId: string): Kept<Answer> | undefined {
    const kept = this.#kept.get(tenantId);
    if (kept) {
      this.#kept.delete(tenantId);
      this.#kept.set(tenantId, kept);
    }
    return kept;
  }

  #ready(resumed: boolean): void {
    this.#live = true;
    this.#failure = undefined;
    for (const kept of this.#kept.values()) {
      // Resumed: whatever was missed is replayed next, so what was true when the stream was lost
      // is kept true. Not resumed: changes may be lost for good, so nothing kept is trusted.
      if (resumed && kept.state === 'held') kept.state = 'live';
      else if (!resumed || kept.state === 'off-stream') kept.state = 'stale';
    }
  }

  #changed(tenantId: string, sequence: number, after: Answer['limits']): void {
    const answer = { tenant_id: tenantId, limits: after } as Answer;
    const fetch = this.#fetches.get(tenantId);
    if (fetch) fetch.overtakenBy = { answer, sequence };
    const kept = this.#kept.get(tenantId);
    // Tenants not kept are not asked for here: the event is not kept either (memory stays bounded
    // by the tenants this process uses).
    if (!kept || kept.sequence >= sequence) return;
    const now = Date.now();
    // An event carries the tenant's whole limits, not a delta: it makes a stale entry true again.
    Object.assign(kept, { answer, state: 'live', updatedAt: new Date(now), vouchedAt: now, sequence });
  }

  #down(failure: Failure): void {
    this.#failure = failure;
    if (!this.#live) return;
    this.#live = false;
    this.#generation++;
    const now = Date.now();
    for (const kept of this.#kept.values()) {
      if (kept.state === 'live') {
        kept.state = 'held';
        kept.vouchedAt = now;
      }
    }
  }
}

/** The failure a caller's abort is thrown as: a client error, as every other failed call. */
export function abortedCall(signal: AbortSignal): BillingClientError {
  return TRPCClientError.from(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
}
