import { Webhook } from 'standardwebhooks';
import { EVENT_PAYLOADS } from '../../contract/outbound-webhooks.js';
import type { ClaimedDelivery } from './outbox-store.js';

/** What is POSTed for one attempt: the Standard Webhooks headers and the JSON body. */
export interface SignedRequest {
  headers: Record<string, string>;
  body: string;
}

/**
 * The body is the same on every attempt (the event's type, its commit time and its data with its
 * sequence, in the contract's key order); `webhook-timestamp` is the attempt's, and the signature
 * covers `{id}.{timestamp}.{body}` (the Standard Webhooks scheme, made by its own package).
 */
export function signedRequest(delivery: ClaimedDelivery, attemptAt: Date): SignedRequest {
  const { event } = delivery;
  const payload = EVENT_PAYLOADS[event.type].parse({
    type: event.type,
    timestamp: event.createdAt.toISOString(),
    data: { ...event.data, sequence: event.sequence },
  });
  const body = JSON.stringify(payload);
  return {
    headers: {
      'content-type': 'application/json',
      'webhook-id': event.id,
      'webhook-timestamp': String(Math.floor(attemptAt.getTime() / 1000)),
      'webhook-signature': new Webhook(delivery.secret).sign(event.id, attemptAt, body),
    },
    body,
  };
}
