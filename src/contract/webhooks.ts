import { z } from 'zod';

/**
 * The parts of an Orb webhook event we read. Orb sends every event type to every endpoint; only
 * subscription events change a plan. `external_customer_id`, `plan` and `external_plan_id` may
 * be null in Orb's payloads.
 */
export const OrbWebhookEvent = z
  .looseObject({
    id: z.string().min(1).max(255),
    type: z.string().min(1).max(255),
    created_at: z.iso.datetime({ offset: true }),
    properties: z.unknown().optional(),
    subscription: z
      .looseObject({
        customer: z
          .looseObject({ external_customer_id: z.string().min(1).max(255).nullable().optional() })
          .nullable()
          .optional(),
        plan: z
          .looseObject({ external_plan_id: z.string().min(1).max(255).nullable().optional() })
          .nullable()
          .optional(),
      })
      .nullable()
      .optional(),
  })
  .meta({
    id: 'OrbWebhookEvent',
    example: {
      id: 'o4mmewpfNNTnjfZc',
      created_at: '2026-11-24T12:00:00+00:00',
      type: 'subscription.plan_changed',
      properties: { previous_plan_id: 'plan_free' },
      subscription: { customer: { external_customer_id: 'cus_42' }, plan: { external_plan_id: 'growth' } },
    },
  });
export type OrbWebhookEvent = z.infer<typeof OrbWebhookEvent>;

export const WEBHOOK_OUTCOMES = [
  'applied',
  'duplicate',
  'stale',
  'ignored',
  'unmapped_plan',
  'unmapped_customer',
] as const;
export const WebhookOutcome = z.enum(WEBHOOK_OUTCOMES).meta({
  id: 'WebhookOutcome',
  description:
    'applied: the customer now has the plan · duplicate: this event id was seen before, nothing changed · ' +
    'stale: older than the last event applied to the customer · ignored: a type that changes no plan · ' +
    'unmapped_plan: no catalog plan has this Orb external plan id · unmapped_customer: no external customer id',
});

export type WebhookOutcome = z.infer<typeof WebhookOutcome>;

export const WebhookReceipt = z
  .object({ event_id: z.string(), outcome: WebhookOutcome })
  .meta({ id: 'WebhookReceipt' });
export type WebhookReceipt = z.infer<typeof WebhookReceipt>;

export const OrbWebhookHeaders = z.object({
  'x-orb-timestamp': z.string().meta({
    description:
      'UTC date-time without a zone, e.g. `2026-11-24T12:00:00.123456`. Refused beyond 5 minutes either way.',
  }),
  'x-orb-signature': z.string().meta({
    description: 'One or more space-separated `v1=<hex HMAC-SHA256 of "v1:" + timestamp + ":" + raw body>`.',
  }),
});

export const WebhookEventView = z
  .object({
    event_id: z.string(),
    type: z.string(),
    created_at: z.string(),
    received_at: z.string(),
    customer_id: z.string().nullable(),
    outcome: WebhookOutcome,
    detail: z.record(z.string(), z.unknown()).nullable(),
  })
  .meta({ id: 'WebhookEvent' });
export type WebhookEventView = z.infer<typeof WebhookEventView>;
