import { createHmac } from 'node:crypto';
import { ORB_SECRET } from './harness.js';

/** Orb's header timestamp: UTC, no zone, microseconds — as Orb's servers send it. */
export function orbTimestamp(at: Date = new Date()): string {
  return `${at.toISOString().slice(0, 23)}456`;
}

/** Signs a delivery the way Orb does (written here from Orb's SDK code, independently of the service's verifier). */
export function orbSignature(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', Buffer.from(secret, 'utf8')).update(`v1:${timestamp}:${body}`, 'utf8').digest('hex')}`;
}

export interface SubscriptionEventFields {
  id: string;
  type: string;
  customer?: string | null;
  plan?: string | null;
  createdAt?: Date;
}

/** A subscription event body shaped like Orb's (only the fields the service reads, plus some it ignores). */
export function subscriptionEvent({
  id,
  type,
  customer,
  plan,
  createdAt = new Date(),
}: SubscriptionEventFields) {
  return JSON.stringify({
    id,
    type,
    created_at: createdAt.toISOString().replace('Z', '+00:00'),
    properties: type === 'subscription.plan_changed' ? { previous_plan_id: 'plan_prev' } : {},
    subscription: {
      id: `sub_${id}`,
      status: 'active',
      customer: customer === undefined ? null : { id: `orb_${customer}`, external_customer_id: customer },
      plan: plan === undefined ? null : { id: `orb_plan_${plan}`, external_plan_id: plan },
    },
  });
}

/**
 * A signed `POST /webhooks/orb` as Orb sends it. `timestamp` and `signature` are the headers'
 * values as given — left out of the request when given as `undefined` — by default now, and
 * `body` signed with `secret` (the harness's Orb secret) and that timestamp.
 */
export function orbDelivery(
  body: string,
  options: { secret?: string; timestamp?: string | undefined; signature?: string | undefined } = {},
): RequestInit {
  const timestamp = 'timestamp' in options ? options.timestamp : orbTimestamp();
  const signature =
    'signature' in options
      ? options.signature
      : orbSignature(options.secret ?? ORB_SECRET, timestamp ?? '', body);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (timestamp !== undefined) headers['x-orb-timestamp'] = timestamp;
  if (signature !== undefined) headers['x-orb-signature'] = signature;
  return { method: 'POST', headers, body };
}
