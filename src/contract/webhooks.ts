import { z } from 'zod';
import { pageCursor } from './cursor.js';

/** A string field of the event; the message names what was expected (the 400 says which field). */
const text = (expected: string) =>
  z.string({ error: (issue) => (issue.input === undefined ? 'required' : `expected ${expected}`) });
const object = <Shape extends z.core.$ZodLooseShape>(shape: Shape, expected: string) =>
  z.looseObject(shape, {
    error: (issue) => (issue.input === undefined ? 'required' : `expected ${expected}`),
  });

/**
 * The parts of an Orb webhook event we read. Orb sends every event type to every endpoint; only
 * subscription events change a plan. `external_customer_id`, `plan` and `external_plan_id` may
 * be null in Orb's payloads.
 *
 * The ids are only required to be strings here: an id that breaks the rule every id of ours
 * obeys (1–255 characters, no control characters) is an event Orb really sent, so it is recorded
 * as `rejected` and answered 200 (a 400 would have Orb retry it for days), not refused.
 */
export const OrbWebhookEvent = object(
  {
    id: text('a string').min(1, 'must not be empty'),
    type: text('a string').min(1, 'must not be empty'),
    created_at: z.iso
      .datetime({
        offset: true,
        error: (issue) =>
          issue.input === undefined
            ? 'required'
            : 'expected an ISO 8601 date-time with a UTC offset (e.g. 2026-11-24T12:00:00+00:00)',
      })
      // Stored as a UTC timestamp: PostgreSQL has no year 0, and a year past 9999 is no ISO string it reads.
      .refine((value) => {
        const year = new Date(value).getUTCFullYear();
        return year >= 1 && year <= 9999;
      }, 'expected a time between the years 0001 and 9999 UTC'),
    properties: z.unknown().optional(),
    subscription: object(
      {
        customer: object(
          { external_customer_id: text('a string or null').nullable().optional() },
          'an object or null',
        )
          .nullable()
          .optional(),
        plan: object(
          { external_plan_id: text('a string or null').nullable().optional() },
          'an object or null',
        )
          .nullable()
          .optional(),
      },
      'an object or null',
    )
      .nullable()
      .optional(),
  },
  'an object',
).meta({
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
  'rejected',
] as const;
export const WebhookOutcome = z.enum(WEBHOOK_OUTCOMES).meta({
  id: 'WebhookOutcome',
  description:
    'applied: the customer now has the plan · duplicate: this event id was seen before, nothing changed · ' +
    'stale: older than the last event applied to the customer · ignored: a type that changes no plan · ' +
    'unmapped_plan: no catalog plan has this Orb external plan id · unmapped_customer: no external customer id · ' +
    'rejected: an id (event id, type, external customer or plan id) is empty, over 255 characters, has ' +
    'control characters or is not well-formed Unicode; nothing was applied',
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

/**
 * The opaque `cursor` of `GET /admin/webhook-events` (see `pageCursor`). A NUL can't travel to
 * PostgreSQL, and no stored event id has one.
 */
export const WebhookEventsCursor = pageCursor({
  example: 'WyIyMDI2LTExLTI0VDEyOjAwOjAwLjEyMzQ1NloiLCJldnRfMSJd',
  isId: (id) => id !== '' && !id.includes('\u0000'),
});

/**
 * A recorded event's id, as `POST /admin/webhook-events/{eventId}/replay` takes it: no control
 * characters (no stored id has one), and long enough for the printable form of a malformed id.
 */
export const WebhookEventId = z
  .string()
  .min(1)
  .max(2048)
  .regex(/^[^\p{Cc}]*$/u)
  .meta({
    description: 'The event id as `GET /admin/webhook-events` lists it.',
    example: 'o4mmewpfNNTnjfZc',
  });
