import type { PlanType } from '../../contract/plans.js';
import type { Resource } from '../../contract/usage.js';
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
}

/** What the store decided for a granted (or replayed) reservation; the service makes the wire body of it. */
export interface Grant {
  reservationId: string;
  resource: Resource;
  quantity: number;
  used: number;
  limit: number | null;
  overage: boolean;
}
export type ReserveOutcome =
  | { kind: 'granted'; grant: Grant; planId: PlanType }
  /** The first answer's facts, and when the reservation was released since (`null`: it holds). */
  | { kind: 'replayed'; grant: Grant; releasedAt: Date | null }
  | { kind: 'refused'; limit: number | null; used: number; planId: PlanType }
  | { kind: 'key_reused' }
  | { kind: 'tenant_not_found' }
  /** Not decided before the request's `notAfter`: nothing recorded. */
  | { kind: 'abandoned' };

export type ReleaseOutcome = 'released' | 'already_released' | 'not_found';

export interface UsageStore {
  usage(tenantId: string): Promise<{ record: TenantRecord; used: UsageCounts } | undefined>;
  /**
   * Grants or refuses in one statement (one round trip) whose conditional UPDATE is the decision —
   * safe with any number of replicas on one database. A refusal records nothing.
   */
  reserve(tenantId: string, request: ReservationRequestRecord): Promise<ReserveOutcome>;
  release(tenantId: string, reservationId: string): Promise<ReleaseOutcome>;
  /** The Engine's absolute counts, audited with the difference; `undefined` when the tenant is unknown. */
  setUsage(
    tenantId: string,
    counts: Partial<UsageCounts>,
    actor: string,
  ): Promise<{ record: TenantRecord; used: UsageCounts } | undefined>;
}
