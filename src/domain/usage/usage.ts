import { createHash } from 'node:crypto';
import type { PlanType } from '../../contract/plans.js';
import type { Reservation, ReservationRequest, Resource, UsageResponse } from '../../contract/usage.js';
import { DomainError, deadlineExceeded, orUnavailable, tenantNotFound } from '../errors.js';
import { effectiveLimits, type TenantRecord } from '../limits/effective-limits.js';
import { remainingOf } from '../limits/usage-policy.js';
import type { Grant, UsageCounts, UsageStore } from './usage-store.js';

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
  reconcile(tenantId: string, counts: Partial<UsageCounts>, actor: string): Promise<UsageResponse>;
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
    released_at: releasedAt ? releasedAt.toISOString() : null,
  };
}

/** What makes two requests "the same" for an idempotency key. */
function fingerprintOf({ resource, quantity, reference }: ReservationRequest): string {
  return createHash('sha256')
    .update(JSON.stringify([resource, quantity, reference ?? null]))
    .digest('hex');
}

/** hard: a reservation refused at its limit · soft: granted past it, into overage. */
export const VIOLATION_KINDS = ['hard', 'soft'] as const;

/** A reservation refused at a hard limit, or granted past a soft one: what operators watch. */
export interface LimitViolation {
  resource: Resource;
  plan: PlanType;
  kind: (typeof VIOLATION_KINDS)[number];
}

export interface UsageServiceOptions {
  /** Called once per violation as it is decided; a replayed answer is not a new one. */
  onViolation?(violation: LimitViolation): void;
}

export function createUsageService(store: UsageStore, options: UsageServiceOptions = {}): UsageService {
  const { onViolation } = options;
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
        }),
      );
      switch (outcome.kind) {
        case 'granted':
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
      if (outcome === 'not_found') throw new DomainError('reservation_not_found', 'Reservation not found');
    },

    async reconcile(tenantId, counts, actor) {
      const updated = await orUnavailable(store.setUsage(tenantId, counts, actor));
      if (!updated) throw tenantNotFound();
      return usageView(tenantId, updated.record, updated.used);
    },
  };
}
