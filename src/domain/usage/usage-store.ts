import type { PagePosition } from '../../contract/cursor.js';
import type { PlanType } from '../../contract/plans.js';
import type { ReleaseReason, Resource } from '../../contract/usage.js';
import type { TenantRecord } from '../limits/effective-limits.js';

export type UsageCounts = Record<Resource, number>;

export interface ReservationRequestRecord {
  resource: Resource;
  quantity: number;
  idempotencyKey: string;
  reference: string | undefined;
  /** The request as made, to tell a replay from a reused key. */
  fingerprint: string;
  /**
   * Ms since the epoch after which the caller no longer waits for this answer (it was answered
   * 503). A grant is decided only before it: otherwise a request the caller saw fail, still queued
   * for a connection, could be granted after the caller's retry was refused — usage nobody holds.
   */
  notAfter?: number | undefined;
  /** Hold the grant this long (seconds) unless renewed; undefined = until released. */
  leaseSeconds?: number | undefined;
}

/** What the store decided for a granted (or replayed) reservation; the service makes the wire body of it. */
export interface Grant {
  reservationId: string;
  resource: Resource;
  quantity: number;
  used: number;
  limit: number | null;
  overage: boolean;
  /** When its lease ends (the database's clock); `null` without a lease. */
  expiresAt: Date | null;
}
export type ReserveOutcome =
  | { kind: 'granted'; grant: Grant; planId: PlanType }
  /**
   * The first answer's facts but for what became of the reservation since: when it was released
   * (`null`: it holds) and when its lease ends now (`grant.expiresAt`).
   */
  | { kind: 'replayed'; grant: Grant; releasedAt: Date | null }
  | { kind: 'refused'; limit: number | null; used: number; planId: PlanType }
  | { kind: 'key_reused' }
  | { kind: 'tenant_not_found' }
  /** Not decided before the request's `notAfter`: nothing recorded. */
  | { kind: 'abandoned' };

/** `expired`: its lease had ended (not swept yet), so this released it, as expired. */
export type ReleaseOutcome =
  | { kind: 'released'; resource: Resource }
  | { kind: 'expired'; lease: ExpiredLease }
  | { kind: 'already_released' }
  | { kind: 'not_found' };

/** A lease released because it ran out, by the sweep or by the call that found it so. */
export interface ExpiredLease {
  reservationId: string;
  tenantId: string;
  resource: Resource;
  quantity: number;
  reference: string | null;
}

export type RenewOutcome =
  /** The lease moved: the grant's facts with `used` and `limit` as they are now, and the new end. */
  | { kind: 'renewed'; grant: Grant }
  /** Its lease had ended; `now` when this call released it (the sweep had not yet). */
  | { kind: 'expired'; now: ExpiredLease | null }
  | { kind: 'released' }
  | { kind: 'not_leased' }
  | { kind: 'not_found' };

export type ReservationState = 'active' | 'released' | 'expired';

/** A reservation as listed. */
export interface ReservationEntry {
  reservationId: string;
  resource: Resource;
  quantity: number;
  reference: string | null;
  createdAt: Date;
  expiresAt: Date | null;
  releasedAt: Date | null;
  releaseReason: ReleaseReason | null;
}

export interface ReservationQuery {
  state: ReservationState;
  resource?: Resource | undefined;
  limit: number;
  /** The last position of the previous page. */
  after?: PagePosition | undefined;
}

/** What a tenant holds of one resource: its unreleased reservations, and the quantity those with a lease hold. */
export interface Held {
  activeReservations: number;
  leasedQuantity: number;
}

/** A tenant's entitlements as read together, in one snapshot. */
export interface EntitlementsRead {
  record: TenantRecord;
  used: UsageCounts;
  held: Record<Resource, Held>;
}

/** Which usage a near-limits listing asks for. */
export interface NearLimitQuery {
  /** Usage at or past this percentage of a finite limit (any usage past a limit of 0). */
  minPercent: number;
  limit: number;
}

/** One tenant's usage of one resource against its finite effective limit. */
export interface UsageAgainstLimit {
  tenantId: string;
  resource: Resource;
  used: number;
  limit: number;
}

export interface UsageStore {
  usage(tenantId: string): Promise<{ record: TenantRecord; used: UsageCounts } | undefined>;
  /**
   * Grants or refuses in one statement (one round trip) whose conditional UPDATE is the decision —
   * safe with any number of replicas on one database. A refusal records nothing.
   */
  reserve(tenantId: string, request: ReservationRequestRecord): Promise<ReserveOutcome>;
  release(tenantId: string, reservationId: string): Promise<ReleaseOutcome>;
  /** Extends a lease to now + `leaseSeconds` (undefined: the length last granted); the row lock decides a race with the sweep. */
  renew(tenantId: string, reservationId: string, leaseSeconds: number | undefined): Promise<RenewOutcome>;
  /**
   * Releases up to `max` leases that have ended, counting each out once whatever other replica
   * sweeps at the same time; returns those this call released.
   */
  expireLeases(max: number): Promise<ExpiredLease[]>;
  /** A page of the tenant's reservations, newest first; `undefined` when the tenant is unknown. */
  listReservations(
    tenantId: string,
    query: ReservationQuery,
  ): Promise<{ reservations: ReservationEntry[]; next: PagePosition | null } | undefined>;
  /** The tenant, its usage and what its reservations hold, in one snapshot; `undefined` when unknown. */
  entitlements(tenantId: string): Promise<EntitlementsRead | undefined>;
  /**
   * Every tenant × resource whose usage is at least `minPercent` of its finite effective limit,
   * most used (used ÷ limit) first, then by tenant id in byte order; at most `limit`. One query.
   */
  nearLimits(query: NearLimitQuery): Promise<UsageAgainstLimit[]>;
  /** The Engine's absolute counts, audited with the difference; `undefined` when the tenant is unknown. */
  setUsage(
    tenantId: string,
    counts: Partial<UsageCounts>,
    actor: string,
  ): Promise<{ record: TenantRecord; used: UsageCounts } | undefined>;
}
