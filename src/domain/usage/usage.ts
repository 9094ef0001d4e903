import { createHash } from 'node:crypto';
import type { PlanView } from '../../contract/admin.js';
import type { CheckRequest, CheckResponse, CheckResult } from '../../contract/entitlements.js';
import type { PlanType } from '../../contract/plans.js';
import type {
  NearLimit,
  Reservation,
  ReservationList,
  ReservationRequest,
  Resource,
  UsageResponse,
} from '../../contract/usage.js';
import { ReservationsCursor } from '../../contract/usage.js';
import { DomainError, deadlineExceeded, orUnavailable, tenantNotFound } from '../errors.js';
import { effectiveLimits, type TenantRecord } from '../limits/effective-limits.js';
import { remainingOf } from '../limits/usage-policy.js';
import type { ActivityKind } from './activity-store.js';
import { preflight } from './preflight.js';
import type {
  ExpiredLease,
  Grant,
  NearLimitQuery,
  ReservationEntry,
  ReservationQuery,
  UsageCounts,
  UsageStore,
} from './usage-store.js';

/** A reservation's answer, and whether it is the first answer to its idempotency key given again. */
export interface ReservationAnswer {
  reservation: Reservation;
  replayed: boolean;
}

/** Usage against limits: what a tenant holds, atomic reservations, and the Engine's reconciliation. */
export interface UsageService {
  usage(tenantId: string): Promise<UsageResponse>;
  /**
   * `notAfter`: the caller's deadline; a grant that would start later is not made, and the caller
   * is told it timed out (`deadline_exceeded`).
   */
  reserve(
    tenantId: string,
    input: ReservationRequest,
    options?: { notAfter?: number | undefined },
  ): Promise<ReservationAnswer>;
  release(tenantId: string, reservationId: string): Promise<void>;
  /** The lease extended; refused (409) when the reservation has none, has expired or was released. */
  renew(tenantId: string, reservationId: string, leaseSeconds: number | undefined): Promise<Reservation>;
  /** A page of the tenant's reservations, newest first. */
  list(tenantId: string, query: ReservationQuery): Promise<ReservationList>;
  /** Releases every lease that has ended (in batches); the number this call released. */
  expireLeases(): Promise<number>;
  /** Whether each check would be granted now, and why; reserves nothing. */
  check(tenantId: string, request: CheckRequest): Promise<CheckResponse>;
  reconcile(tenantId: string, counts: Partial<UsageCounts>, actor: string): Promise<UsageResponse>;
  /** Every tenant's usage near or past a finite limit, most used first (see `UsageStore.nearLimits`). */
  nearLimits(query: NearLimitQuery): Promise<NearLimit[]>;
}

/**
 * `used` as a percentage of `limit`, to one decimal. Any use of a limit of 0 is past it: as if the
 * limit were 1 (a number, where used ÷ 0 has none).
 */
export function percentOf(used: number, limit: number): number {
  return Math.round((used * 1000) / Math.max(limit, 1)) / 10;
}

function usageView(tenantId: string, record: TenantRecord, used: UsageCounts): UsageResponse {
  const limits = effectiveLimits(record);
  const of = (resource: Resource) => {
    const limit = limits[resource];
    const count = used[resource];
    // After a downgrade below current usage nothing is deleted: remaining is 0 and the excess shows here.
    return {
      used: count,
      limit,
      remaining: remainingOf(limit, count),
      overage: limit === null ? 0 : Math.max(0, count - limit),
    };
  };
  return {
    tenant_id: tenantId,
    usage: { deployments: of('deployments'), self_hosted_workers: of('self_hosted_workers') },
  };
}

/**
 * The 201 body of a grant. A replay makes it of the stored facts of the first answer: the same
 * JSON, byte for byte (the key order here is the wire's), but for `released_at` — what became of
 * the reservation since, so that a released one does not look held.
 */
function reservationOf(grant: Grant, releasedAt: Date | null = null): Reservation {
  return {
    reservation_id: grant.reservationId,
    resource: grant.resource,
    quantity: grant.quantity,
    used: grant.used,
    limit: grant.limit,
    remaining: remainingOf(grant.limit, grant.used),
    overage: grant.overage,
    released_at: isoOf(releasedAt),
    expires_at: isoOf(grant.expiresAt),
  };
}

const isoOf = (at: Date | null) => (at ? at.toISOString() : null);

function reservationRecordOf(entry: ReservationEntry): ReservationList['reservations'][number] {
  return {
    reservation_id: entry.reservationId,
    resource: entry.resource,
    quantity: entry.quantity,
    reference: entry.reference,
    created_at: entry.createdAt.toISOString(),
    expires_at: isoOf(entry.expiresAt),
    released_at: isoOf(entry.releasedAt),
    release_reason: entry.releaseReason,
  };
}

/**
 * What makes two requests "the same" for an idempotency key. A lease counts when asked for; a
 * request without one fingerprints as before leases existed, so a retry across the upgrade replays.
 */
function fingerprintOf({ resource, quantity, reference, lease_seconds }: ReservationRequest): string {
  const request: unknown[] = [resource, quantity, reference ?? null];
  if (lease_seconds !== undefined) request.push(lease_seconds);
  return createHash('sha256').update(JSON.stringify(request)).digest('hex');
}

/** Leases released per store call by the sweep, and calls per sweep (the rest waits for the next). */
const EXPIRY_BATCH = 500;
const EXPIRY_BATCHES_PER_SWEEP = 20;

/** hard: a reservation refused at its limit · soft: granted past it, into overage. */
export const VIOLATION_KINDS = ['hard', 'soft'] as const;

/** A reservation refused at a hard limit, or granted past a soft one: what operators watch. */
export interface LimitViolation {
  resource: Resource;
  plan: PlanType;
  kind: (typeof VIOLATION_KINDS)[number];
}

export interface UsageServiceOptions {
  /** The plan catalog, for the upgrade a refused check names. */
  catalog: { listPlans(): Promise<PlanView[]> };
  /** Called once per violation as it is decided; a replayed answer is not a new one. */
  onViolation?(violation: LimitViolation): void;
  /** Called once per lease released because it ran out, by whichever call released it. */
  onLeaseExpired?(lease: ExpiredLease): void;
  /** Called once per check judged (`POST /billing/checks` entry). */
  onCheck?(result: Pick<CheckResult, 'resource' | 'reason'>): void;
  /**
   * Called once per event the hourly activity counts: a reservation granted (a replay is not a
   * new grant), released by its holder, refused at its limit, or expired (whichever call found
   * its lease ended). A preflight check that says no reserves nothing and is not a refusal.
   * Synchronous and in memory: the refusal path gains no round trip.
   */
  onActivity?(tenantId: string, resource: Resource, kind: ActivityKind): void;
}

const reservationNotFound = () => new DomainError('reservation_not_found', 'Reservation not found');

const leaseConflict = (code: 'not_leased' | 'reservation_expired' | 'reservation_released') =>
  new DomainError(code, 'The reservation cannot be renewed', { facts: { code } });

export function createUsageService(store: UsageStore, options: UsageServiceOptions): UsageService {
  const { catalog, onViolation, onLeaseExpired, onCheck, onActivity } = options;
  const expired = (lease: ExpiredLease) => {
    onLeaseExpired?.(lease);
    onActivity?.(lease.tenantId, lease.resource, 'expiries');
  };
  return {
    async usage(tenantId) {
      const found = await orUnavailable(store.usage(tenantId));
      if (!found) throw tenantNotFound();
      return usageView(tenantId, found.record, found.used);
    },

    async reserve(tenantId, input, { notAfter } = {}) {
      const outcome = await orUnavailable(
        store.reserve(tenantId, {
          resource: input.resource,
          quantity: input.quantity,
          idempotencyKey: input.idempotency_key,
          reference: input.reference,
          fingerprint: fingerprintOf(input),
          notAfter,
          leaseSeconds: input.lease_seconds,
        }),
      );
      switch (outcome.kind) {
        case 'granted':
          onActivity?.(tenantId, input.resource, 'grants');
          if (outcome.grant.overage) {
            onViolation?.({ resource: input.resource, plan: outcome.planId, kind: 'soft' });
          }
          return { reservation: reservationOf(outcome.grant), replayed: false };
        case 'replayed':
          return { reservation: reservationOf(outcome.grant, outcome.releasedAt), replayed: true };
        case 'tenant_not_found':
          throw tenantNotFound();
        case 'abandoned':
          // Reached or decided after the deadline, so nothing was granted. The request observer's
          // timer may not have run yet (a busy event loop): the caller is told the same either way.
          throw deadlineExceeded();
        case 'key_reused':
          throw new DomainError(
            'idempotency_key_reused',
            'This idempotency key was used for another request',
            {
              facts: { idempotency_key: input.idempotency_key },
            },
          );
        case 'refused':
          onActivity?.(tenantId, input.resource, 'refusals');
          onViolation?.({ resource: input.resource, plan: outcome.planId, kind: 'hard' });
          throw new DomainError('limit_exceeded', `The ${input.resource} limit would be exceeded`, {
            facts: {
              resource: input.resource,
              limit: outcome.limit,
              used: outcome.used,
              requested: input.quantity,
            },
          });
      }
    },

    async release(tenantId, reservationId) {
      const outcome = await orUnavailable(store.release(tenantId, reservationId));
      // Releasing twice is fine; another tenant's reservation does not exist for this one.
      if (outcome.kind === 'not_found') throw reservationNotFound();
      // Its lease had ended before the sweep reached it: released now, as the expiry it is.
      if (outcome.kind === 'expired') expired(outcome.lease);
      else if (outcome.kind === 'released') onActivity?.(tenantId, outcome.resource, 'releases');
    },

    async renew(tenantId, reservationId, leaseSeconds) {
      const outcome = await orUnavailable(store.renew(tenantId, reservationId, leaseSeconds));
      switch (outcome.kind) {
        case 'renewed':
          return reservationOf(outcome.grant);
        case 'not_found':
          throw reservationNotFound();
        case 'not_leased':
          throw leaseConflict('not_leased');
        case 'released':
          throw leaseConflict('reservation_released');
        case 'expired':
          if (outcome.now) expired(outcome.now);
          throw leaseConflict('reservation_expired');
      }
    },

    async list(tenantId, query) {
      const page = await orUnavailable(store.listReservations(tenantId, query));
      if (!page) throw tenantNotFound();
      return {
        tenant_id: tenantId,
        reservations: page.reservations.map(reservationRecordOf),
        next_cursor: page.next && ReservationsCursor.encode(page.next),
      };
    },

    async expireLeases() {
      let released = 0;
      for (let batch = 0; batch < EXPIRY_BATCHES_PER_SWEEP; batch++) {
        const leases = await store.expireLeases(EXPIRY_BATCH);
        for (const lease of leases) expired(lease);
        released += leases.length;
        if (leases.length < EXPIRY_BATCH) break;
      }
      return released;
    },

    async check(tenantId, request) {
      const [found, plans] = await orUnavailable(Promise.all([store.usage(tenantId), catalog.listPlans()]));
      if (!found) throw tenantNotFound();
      const answer = preflight(found.record, found.used, plans, request);
      for (const result of answer.results) onCheck?.(result);
      return answer;
    },

    async nearLimits(query) {
      const entries = await orUnavailable(store.nearLimits(query));
      return entries.map(({ tenantId, resource, used, limit }) => ({
        tenant_id: tenantId,
        resource,
        used,
        limit,
        percent: percentOf(used, limit),
      }));
    },

    async reconcile(tenantId, counts, actor) {
      const updated = await orUnavailable(store.setUsage(tenantId, counts, actor));
      if (!updated) throw tenantNotFound();
      return usageView(tenantId, updated.record, updated.used);
    },
  };
}
