import { createHmac } from 'node:crypto';

/** Orb's header timestamp: UTC, no zone, microseconds, as Orb's servers send it. */
export function orbTimestamp(at: Date = new Date()): string {
  return `${at.toISOString().slice(0, 23)}000`;
}

/** `v1=<hex HMAC-SHA256(secret, "v1:" + timestamp + ":" + body)>`, as Orb signs a delivery. */
export function orbSignature(secret: string, timestamp: string, body: string): string {
  const mac = createHmac('sha256', Buffer.from(secret, 'utf8')).update(`v1:${timestamp}:${body}`, 'utf8');
  return `v1=${mac.digest('hex')}`;
}

/** A `subscription.plan_changed` body shaped like Orb's (the fields the service reads, and a few it ignores). */
export function planChangedEvent(id: string, customer: string, plan: string, createdAt = new Date()): string {
  return JSON.stringify({
    id,
    type: 'subscription.plan_changed',
    created_at: createdAt.toISOString().replace('Z', '+00:00'),
    properties: { previous_plan_id: 'plan_prev' },
    subscription: {
      id: `sub_${id}`,
      status: 'active',
      customer: { id: `orb_${customer}`, external_customer_id: customer },
      plan: { id: `orb_plan_${plan}`, external_plan_id: plan },
    },
  });
}
