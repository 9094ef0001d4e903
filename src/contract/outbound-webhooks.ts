import { z } from 'zod';
import { CustomerId } from './admin.js';
import { pageCursor } from './cursor.js';
import { BillingLimits } from './limits.js';
import { Resource } from './usage.js';

/** Every event type the service sends; an endpoint created without `events` takes all of them. */
export const EVENT_TYPES = [
  'limits.changed',
  'reservation.expired',
  'limit.warning',
  'limit.reached',
  'limit.resolved',
] as const;
export const EventType = z.enum(EVENT_TYPES).meta({ id: 'EventType' });
export type EventType = z.infer<typeof EventType>;

/** What changed a tenant's limits: an Orb subscription event, an operator, or the plan catalog. */
export const LimitsChangeCause = z.enum(['orb', 'admin', 'catalog']).meta({ id: 'LimitsChangeCause' });
export type LimitsChangeCause = z.infer<typeof LimitsChangeCause>;

/** Every event's `sequence`: one PostgreSQL sequence for the whole database. */
export const EventSequence = z.number().int().meta({
  description: 'Database-wide and increasing: order and resume by it across replicas.',
});

/** `limits.changed`'s data: one tenant's effective limits before (null: it was created) and after. */
export const LimitsChangedData = z
  .object({
    tenant_id: z.string(),
    customer_id: CustomerId,
    sequence: EventSequence,
    before: BillingLimits.nullable(),
    after: BillingLimits,
    cause: LimitsChangeCause,
  })
  .meta({
    id: 'LimitsChangedData',
    example: {
      tenant_id: 'org-456',
      customer_id: 'org-456',
      sequence: 42,
      before: { deployments: 5, self_hosted_workers: null, plan_type: 'growth' },
      after: { deployments: 10, self_hosted_workers: null, plan_type: 'growth' },
      cause: 'admin',
    },
  });
export type LimitsChangedData = z.infer<typeof LimitsChangedData>;

/** An outbound webhook's body, the Standard Webhooks way: the type, when it happened, its data. */
export const LimitsChangedPayload = z
  .object({
    type: z.literal('limits.changed'),
    timestamp: z.string().meta({ description: 'When the change committed (RFC 3339).' }),
    data: LimitsChangedData,
  })
  .meta({ id: 'LimitsChangedPayload' });
export type LimitsChangedPayload = z.infer<typeof LimitsChangedPayload>;

/** `reservation.expired`'s data: a lease that ended unrenewed, its quantity given back. */
export const ReservationExpiredData = z
  .object({
    tenant_id: z.string(),
    reservation_id: z.uuid(),
    resource: Resource,
    quantity: z.number().int(),
    reference: z.string().nullable(),
    sequence: EventSequence,
  })
  .meta({
    id: 'ReservationExpiredData',
    example: {
      tenant_id: 'org-456',
      reservation_id: '8bd54051-fc62-41ce-9bfe-aa971fb77ade',
      resource: 'self_hosted_workers',
      quantity: 1,
      reference: 'worker-7',
      sequence: 43,
    },
  });
export type ReservationExpiredData = z.infer<typeof ReservationExpiredData>;

export const ReservationExpiredPayload = z
  .object({
    type: z.literal('reservation.expired'),
    timestamp: z.string().meta({ description: 'When the expiry committed (RFC 3339).' }),
    data: ReservationExpiredData,
  })
  .meta({ id: 'ReservationExpiredPayload' });
export type ReservationExpiredPayload = z.infer<typeof ReservationExpiredPayload>;

/**
 * Where a tenant's usage of a resource stands against its limit: `warning` from the warning level
 * (`BILLING_ALERT_WARNING_PERCENT`), `reached` at the limit (or after a refusal), `ok` again only
 * below the warning level minus `BILLING_ALERT_HYSTERESIS_PERCENT`.
 */
export const LimitAlertState = z.enum(['ok', 'warning', 'reached']).meta({ id: 'LimitAlertState' });
export type LimitAlertState = z.infer<typeof LimitAlertState>;

/** The data of `limit.warning`, `limit.reached` and `limit.resolved`: the state a tenant × resource moved to. */
export const LimitAlertData = z
  .object({
    tenant_id: z.string(),
    resource: Resource,
    used: z.number().int().meta({ description: 'The count when the state moved.' }),
    limit: z
      .number()
      .int()
      .nullable()
      .meta({ description: 'The limit then; null: unlimited (a `limit.resolved` only).' }),
    state: LimitAlertState,
    sequence: EventSequence,
  })
  .meta({
    id: 'LimitAlertData',
    example: {
      tenant_id: 'org-456',
      resource: 'deployments',
      used: 8,
      limit: 10,
      state: 'warning',
      sequence: 44,
    },
  });
export type LimitAlertData = z.infer<typeof LimitAlertData>;

const limitAlertPayload = <T extends 'limit.warning' | 'limit.reached' | 'limit.resolved'>(
  type: T,
  id: string,
  description: string,
) =>
  z
    .object({
      type: z.literal(type),
      timestamp: z
        .string()
        .meta({ description: 'When the change that moved the state committed (RFC 3339).' }),
      data: LimitAlertData,
    })
    .meta({ id, description });

export const LimitWarningPayload = limitAlertPayload(
  'limit.warning',
  'LimitWarningPayload',
  'Usage reached the warning level of a finite limit, or fell back below the limit from `reached`.',
);
export const LimitReachedPayload = limitAlertPayload(
  'limit.reached',
  'LimitReachedPayload',
  'Usage reached the limit (a grant that fills it, a lowered limit), or a reservation was refused.',
);
export const LimitResolvedPayload = limitAlertPayload(
  'limit.resolved',
  'LimitResolvedPayload',
  'Usage fell below the warning level minus the hysteresis, or the limit was raised so far or removed.',
);

/** Each event type's body, as it is sent (and described in `openapi.json`'s `webhooks`). */
export const EVENT_PAYLOADS = {
  'limits.changed': LimitsChangedPayload,
  'reservation.expired': ReservationExpiredPayload,
  'limit.warning': LimitWarningPayload,
  'limit.reached': LimitReachedPayload,
  'limit.resolved': LimitResolvedPayload,
} as const satisfies Record<EventType, z.ZodType>;

export const WebhookEndpointId = z.uuid().meta({ example: '0f8fad5b-d9cb-469f-a165-70867728950e' });
export const WebhookDeliveryId = z.uuid().meta({ example: '7c9e6679-7425-40de-944b-e07fc1f90ae7' });

export const WebhookEndpointCreate = z.strictObject({
  url: z
    .string()
    .min(1)
    .max(2048)
    .meta({
      description:
        'Where events are POSTed: http or https, no credentials. Refused when its host is or resolves to a ' +
        'loopback, private, link-local or metadata address (unless `BILLING_WEBHOOK_ALLOW_PRIVATE=true`).',
      example: 'https://hooks.example.com/billing',
    }),
  events: z
    .array(EventType)
    .min(1)
    .optional()
    .meta({ description: 'The event types to send; left out: every type, now and later.' }),
  description: z.string().max(1024).default('').meta({ example: 'Engine: refresh cached limits' }),
});
export type WebhookEndpointCreate = z.input<typeof WebhookEndpointCreate>;

export const WebhookEndpointView = z
  .object({
    endpoint_id: WebhookEndpointId,
    url: z.string(),
    events: z.array(EventType),
    description: z.string(),
    created_at: z.string(),
    disabled_at: z.string().nullable().meta({
      description:
        'Set once it answered 410 Gone or failed every attempt for 24 hours; nothing is sent then.',
    }),
    disabled_reason: z
      .enum(['answered 410 Gone', 'failed continuously'])
      .nullable()
      .meta({ description: 'Why it was disabled; null while enabled.' }),
  })
  .meta({ id: 'WebhookEndpoint' });
export type WebhookEndpointView = z.infer<typeof WebhookEndpointView>;

export const CreatedWebhookEndpoint = WebhookEndpointView.extend({
  secret: z.string().meta({
    description:
      'The signing secret (`whsec_` + base64 of 32 bytes), for the Standard Webhooks verifier: shown only here.',
    example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  }),
}).meta({ id: 'CreatedWebhookEndpoint' });
export type CreatedWebhookEndpoint = z.infer<typeof CreatedWebhookEndpoint>;

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export const DeliveryStatus = z.enum(DELIVERY_STATUSES).meta({
  id: 'DeliveryStatus',
  description:
    'pending: not delivered yet (waiting for its attempt, or for an earlier event of the same tenant) · ' +
    'delivered: answered 2xx · failed: given up (retries ran out, 410 Gone, or the endpoint was disabled)',
});
export type DeliveryStatus = z.infer<typeof DeliveryStatus>;

export const WebhookDeliveryView = z
  .object({
    delivery_id: WebhookDeliveryId,
    event_id: z.string().meta({ description: 'The `webhook-id` header: the same on every attempt.' }),
    event_type: EventType,
    sequence: z.number().int(),
    tenant_id: z.string().nullable(),
    status: DeliveryStatus,
    attempts: z.number().int(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    next_attempt_at: z.string().nullable().meta({ description: 'Null unless pending.' }),
    created_at: z.string(),
    delivered_at: z.string().nullable(),
  })
  .meta({ id: 'WebhookDelivery' });
export type WebhookDeliveryView = z.infer<typeof WebhookDeliveryView>;

/** The opaque `cursor` of an endpoint's deliveries (see `pageCursor`): delivery ids are UUIDs. */
export const WebhookDeliveriesCursor = pageCursor({
  example: 'WyIyMDI2LTEyLTAzVDEyOjAwOjAwLjEyMzQ1NloiLCI3YzllNjY3OS03NDI1LTQwZGUtOTQ0Yi1lMDdmYzFmOTBhZTciXQ',
  isId: (id) => WebhookDeliveryId.safeParse(id).success,
});
