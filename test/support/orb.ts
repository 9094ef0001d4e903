import { createHmac } from 'node:crypto';

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
