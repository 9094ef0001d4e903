import { TRPCError } from '@trpc/server';
import type { WebhookDeliveryView, WebhookEndpointView } from '../../contract/outbound-webhooks.js';
import { EVENT_TYPES } from '../../contract/outbound-webhooks.js';
import type { WebhookEndpoints } from '../../domain/outbox/endpoints.js';
import type { WebhookDeliveryRecord, WebhookEndpointRecord } from '../../domain/outbox/outbox-store.js';
import type { BillingContext } from '../context.js';

/** An endpoint as the admin API answers it: never its secret; `events` spelled out when it takes all. */
export function webhookEndpointView(endpoint: WebhookEndpointRecord): WebhookEndpointView {
  return {
    endpoint_id: endpoint.id,
    url: endpoint.url,
    events: endpoint.events ?? [...EVENT_TYPES],
    description: endpoint.description,
    created_at: endpoint.createdAt.toISOString(),
    disabled_at: endpoint.disabledAt?.toISOString() ?? null,
    disabled_reason: endpoint.disabledReason,
  };
}

export function webhookDeliveryView(delivery: WebhookDeliveryRecord): WebhookDeliveryView {
  return {
    delivery_id: delivery.id,
    event_id: delivery.eventId,
    event_type: delivery.eventType,
    sequence: delivery.sequence,
    tenant_id: delivery.tenantId,
    status: delivery.status,
    attempts: delivery.attempts,
    last_status_code: delivery.lastStatusCode,
    last_error: delivery.lastError,
    next_attempt_at: delivery.nextAttemptAt?.toISOString() ?? null,
    created_at: delivery.createdAt.toISOString(),
    delivered_at: delivery.deliveredAt?.toISOString() ?? null,
  };
}

/** The endpoints service, or the admin API's 404 when there is none (no store). */
export function webhookEndpointsOf(ctx: BillingContext): WebhookEndpoints {
  const endpoints = ctx.services.webhookEndpoints;
  if (!endpoints) throw new TRPCError({ code: 'NOT_FOUND', message: 'Not Found' });
  return endpoints;
}
