import type { Context } from 'hono';
import type { z } from 'zod';
import { toFastApiFailure } from '../api/errors.js';
import { OrbWebhookEvent, type WebhookReceipt } from '../contract/webhooks.js';
import { printable } from '../domain/webhooks/orb-events.js';
import { verifyOrbSignature, WebhookSignatureError } from '../domain/webhooks/orb-signature.js';
import { withBodyLimit } from './body-limit.js';
import type { ObservedRoutes } from './request-observer.js';

export const ORB_WEBHOOK_PATH = '/webhooks/orb';
/** Orb's events are a few KiB; anything this large is not one of them. */
export const MAX_WEBHOOK_BYTES = 256 * 1024;

export interface OrbWebhookRouteOptions {
  secret: string;
  handle(event: OrbWebhookEvent, rawBody: string): Promise<WebhookReceipt>;
  /** A delivery refused before its body was read as an event: the reason, never the body. */
  onRefused(reason: string): void;
  /**
   * Every delivery's end, for metrics: the event type (`unknown` when refused unread) and its
   * outcome, or `refused` / `unavailable` / `error` when it was not handled.
   */
  onDelivery(delivery: { type: string; outcome: string }): void;
  onServerError(error: unknown, status: number, context: Context): void;
  now(): number;
}

/**
 * The 400 `detail` of a body that is JSON but not an event: the first offending field and why,
 * e.g. `Invalid webhook payload: created_at: expected an ISO 8601 date-time with a UTC offset (…)`.
 * The schema's messages name what was expected, never the value sent (it is logged too).
 */
function invalidPayloadDetail(error: z.ZodError): string {
  const [issue] = error.issues;
  const field = (issue?.path ?? [])
    .map((key, index) => (typeof key === 'number' ? `[${key}]` : `${index > 0 ? '.' : ''}${String(key)}`))
    .join('');
  return `Invalid webhook payload: ${field || 'body'}: ${issue?.message ?? 'invalid'}`;
}

/**
 * `POST /webhooks/orb` — a plain Hono route, because the signature covers the raw bytes: they are
 * checked before anything parses them. The payload is then read with the contract's zod schema.
 */
export function mountOrbWebhook(routes: ObservedRoutes, options: OrbWebhookRouteOptions): void {
  const refused = (reason: string) => {
    options.onRefused(reason);
    options.onDelivery({ type: 'unknown', outcome: 'refused' });
  };
  routes.on(
    'POST',
    ORB_WEBHOOK_PATH,
    withBodyLimit(
      async (c) => {
        const body = new Uint8Array(await c.req.arrayBuffer());
        const refuse = (reason: string) => {
          refused(reason);
          return c.json({ detail: reason }, 400);
        };
        try {
          verifyOrbSignature(
            options.secret,
            { timestamp: c.req.header('x-orb-timestamp'), signature: c.req.header('x-orb-signature'), body },
            options.now(),
          );
        } catch (error) {
          if (error instanceof WebhookSignatureError) return refuse(error.message);
          throw error;
        }
        const rawBody = Buffer.from(body).toString('utf8');
        let payload: unknown;
        try {
          payload = JSON.parse(rawBody);
        } catch {
          return refuse('Invalid JSON payload');
        }
        const event = OrbWebhookEvent.safeParse(payload);
        if (!event.success) return refuse(invalidPayloadDetail(event.error));
        // A metric label, like the record, carries no control characters.
        const type = printable(event.data.type);
        try {
          const receipt = await options.handle(event.data, rawBody);
          options.onDelivery({ type, outcome: receipt.outcome });
          return c.json(receipt);
        } catch (error) {
          // 503 when the store is down: Orb retries, and nothing was half-applied (one transaction).
          const failure = toFastApiFailure(error, payload, () => ['body']);
          options.onServerError(error, failure.status, c);
          options.onDelivery({ type, outcome: failure.status === 503 ? 'unavailable' : 'error' });
          return c.json({ detail: failure.detail }, failure.status as 503);
        }
      },
      { maxBytes: MAX_WEBHOOK_BYTES, onRefused: () => refused('body too large') },
    ),
  );
}
