import { z } from 'zod';
import { NextCursor, pageCursor } from './cursor.js';
import { TenantId } from './limits.js';
import { Count, Limit } from './plans.js';

/** What a tenant holds and reserves against a limit. `Resource.options` lists them, in wire order. */
export const Resource = z.enum(['deployments', 'self_hosted_workers']).meta({ id: 'Resource' });
export type Resource = z.infer<typeof Resource>;

export const ResourceUsage = z
  .object({
    used: z.int().min(0),
    limit: Limit.meta({ description: '`null` = unlimited' }),
    remaining: Limit.meta({ description: 'never negative; `null` = unlimited' }),
    overage: z
      .int()
      .min(0)
      .meta({ description: 'units used past the limit (billed when the limit is soft)' }),
  })
  .meta({ id: 'ResourceUsage' });

export const UsageResponse = z
  .object({
    tenant_id: z.string(),
    usage: z.object({ deployments: ResourceUsage, self_hosted_workers: ResourceUsage }),
  })
  .meta({ id: 'Usage' });
export type UsageResponse = z.infer<typeof UsageResponse>;

/** The tenant, from the `tenant-id` header as on `/billing/limits`. */
export const TenantInput = z.object({ tenantId: TenantId });
export const TENANT_HEADER = { tenantId: 'tenant-id' } as const;

/** How long a lease holds its capacity, in seconds: 10 seconds to a day. */
export const LeaseSeconds = z.int().min(10).max(86_400);

/** A time the store wrote, as RFC 3339 in UTC. */
export const Timestamp = z.iso.datetime();

export const ReservationRequest = z.strictObject({
  resource: Resource,
  quantity: z.int().min(1).max(10_000).default(1),
  idempotency_key: z.string().min(1).max(128).meta({
    description: 'The same key again answers the first answer; with another request it is refused (422).',
  }),
  reference: z
    .string()
    .max(255)
    .optional()
    .meta({ description: 'The Engine’s own id for what this reserves.' }),
  lease_seconds: LeaseSeconds.optional().meta({
    description:
      'Hold the capacity for this long unless renewed (`POST /billing/reservations/{reservationId}/renew`); ' +
      'an unrenewed lease is released automatically within 5 seconds of its `expires_at`. Left out: the ' +
      'reservation lives until released.',
  }),
});
/** A reservation request as validated (`quantity` defaulted). */
export type ReservationRequest = z.output<typeof ReservationRequest>;

export const Reservation = z
  .object({
    reservation_id: z.uuid(),
    resource: Resource,
    quantity: z.int().min(1),
    used: z.int().min(0),
    limit: Limit,
    remaining: Limit,
    overage: z.boolean().meta({ description: 'granted past a soft limit: billed as overage' }),
    released_at: Timestamp.nullable().meta({
      description:
        'When the reservation was released (RFC 3339, UTC); `null` while it holds. A replay of a released ' +
        'reservation answers the first answer with this set: the capacity is no longer held.',
      example: null,
    }),
    expires_at: Timestamp.nullable().meta({
      description:
        'When the lease ends unless renewed (RFC 3339, UTC, the database’s clock); `null` without a lease. ' +
        'A replay answers it as it is now (a renewal moves it).',
      example: '2026-12-02T12:00:30.000Z',
    }),
  })
  .meta({ id: 'Reservation' });
export type Reservation = z.infer<typeof Reservation>;

/**
 * The response header that marks a replayed answer — the first answer to this idempotency key,
 * answered again (the name and value Stripe's API uses). The body says nothing of it: it is the
 * first answer's.
 */
export const IDEMPOTENT_REPLAYED = 'Idempotent-Replayed';
export const ReplayHeaders = z.object({
  [IDEMPOTENT_REPLAYED]: z
    .literal('true')
    .optional()
    .meta({ description: '`true` when this is the first answer to the idempotency key, answered again.' }),
});

export const LimitExceededBody = z
  .object({
    detail: z.object({
      code: z.literal('limit_exceeded'),
      resource: Resource,
      limit: Limit,
      used: z.int().min(0),
      requested: z.int().min(1),
    }),
  })
  .meta({ id: 'LimitExceeded' });

export const ReservationPath = z.object({ reservationId: z.uuid() });

export const UsageUpdate = z.strictObject({
  deployments: Count.optional(),
  self_hosted_workers: Count.optional(),
});
/** The Engine's absolute counts; a resource left out is unchanged. */
export type UsageUpdate = z.output<typeof UsageUpdate>;

export const RenewRequest = z.strictObject({
  lease_seconds: LeaseSeconds.optional().meta({
    description:
      'The new lease, from now. Left out: the length last granted (at creation or the latest renewal).',
  }),
});

/** Why a renewal is refused (409): the reservation cannot hold longer. */
export const RENEW_CONFLICTS = ['not_leased', 'reservation_expired', 'reservation_released'] as const;
export const RenewConflictBody = z
  .object({
    detail: z.object({
      code: z.enum(RENEW_CONFLICTS).meta({
        description:
          '`not_leased`: it has no lease (it lives until released); `reservation_expired`: its lease ended ' +
          'and it was released; `reservation_released`: a caller released it.',
      }),
    }),
  })
  .meta({ id: 'RenewConflict' });

export const RESERVATION_STATES = ['active', 'released', 'expired'] as const;
/** Why a reservation stopped holding: a caller released it, or its lease ran out. */
export const ReleaseReason = z.enum(['released', 'expired']).meta({ id: 'ReleaseReason' });
export type ReleaseReason = z.infer<typeof ReleaseReason>;

/** The opaque `cursor` of `GET /billing/reservations` (see `pageCursor`). */
export const ReservationsCursor = pageCursor({
  example: 'WyIyMDI2LTEyLTAyVDEyOjAwOjAwLjEyMzQ1NloiLCIwMTkzYWU3Ni0xYjJjLTRkNWUtOGY5YS0xYjJjM2Q0ZTVmNmEiXQ',
  isId: (id) => z.uuid().safeParse(id).success,
});

export const ReservationListQuery = z.object({
  state: z.enum(RESERVATION_STATES).default('active').meta({
    description:
      '`active`: still held (counted in usage); `released`: released by a caller; `expired`: its lease ran out.',
  }),
  resource: Resource.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: ReservationsCursor.optional(),
});

export const ReservationRecord = z
  .object({
    reservation_id: z.uuid(),
    resource: Resource,
    quantity: z.int().min(1),
    reference: z.string().nullable(),
    created_at: Timestamp,
    expires_at: Timestamp.nullable().meta({ description: 'The lease’s end; `null` without a lease.' }),
    released_at: Timestamp.nullable(),
    release_reason: ReleaseReason.nullable().meta({ description: '`null` while it holds.' }),
  })
  .meta({ id: 'ReservationRecord' });
export type ReservationRecord = z.infer<typeof ReservationRecord>;

export const ReservationList = z
  .object({
    tenant_id: z.string(),
    reservations: z.array(ReservationRecord),
    next_cursor: NextCursor,
  })
  .meta({ id: 'ReservationList' });
export type ReservationList = z.infer<typeof ReservationList>;

/** The admin's view of a tenant's usage: what `GET /billing/usage` answers, and what it holds now. */
export const TenantUsage = z
  .object({
    usage: UsageResponse,
    reservations: z.array(ReservationRecord).meta({
      description: 'Its active reservations and leases, newest first, at most 100.',
    }),
  })
  .meta({ id: 'TenantUsage' });
export type TenantUsage = z.infer<typeof TenantUsage>;

/** One tenant's usage of one resource, near or past its limit. */
export const NearLimit = z
  .object({
    tenant_id: z.string(),
    resource: Resource,
    used: z.int().min(0),
    limit: z.int().min(0).meta({ description: 'The effective limit (never unlimited here).' }),
    percent: z
      .number()
      .min(0)
      .meta({
        description:
          '`used` as a percentage of `limit`, to one decimal. Against a limit of 0 (any use is over it) as ' +
          'if the limit were 1.',
      }),
  })
  .meta({
    id: 'NearLimit',
    example: { tenant_id: 'org-1', resource: 'deployments', used: 9, limit: 10, percent: 90 },
  });
export type NearLimit = z.infer<typeof NearLimit>;
