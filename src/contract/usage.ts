import { z } from 'zod';
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
    released_at: z.iso
      .datetime()
      .nullable()
      .meta({
        description:
          'When the reservation was released (RFC 3339, UTC); `null` while it holds. A replay of a released ' +
          'reservation answers the first answer with this set: the capacity is no longer held.',
        example: null,
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
