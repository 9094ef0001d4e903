import type { WebhookEventView } from '../../contract/webhooks.js';
import type { WebhookEventRecord } from '../../domain/webhooks/webhook-store.js';

/** A recorded Orb event as the admin API answers it (the raw body stays in the store). */
export function webhookEventView(event: WebhookEventRecord): WebhookEventView {
  return {
    event_id: event.id,
    type: event.type,
    created_at: event.createdAt.toISOString(),
    received_at: event.receivedAt.toISOString(),
    customer_id: event.customerId,
    outcome: event.outcome,
    detail: event.detail,
  };
}
