import { z } from 'zod';
import { NextCursor } from '../../contract/cursor.js';
import {
  WebhookDeliveriesCursor,
  WebhookDeliveryView,
  WebhookEndpointId,
} from '../../contract/outbound-webhooks.js';
import { adminProcedure } from '../trpc.js';
import { adminErrorResponses } from './views.js';
import { webhookDeliveryView, webhookEndpointsOf } from './webhook-endpoint-views.js';

export const listWebhookDeliveries = adminProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/admin/webhook-endpoints/{endpointId}/deliveries',
      operationId: 'listWebhookDeliveries',
      summary:
        "An endpoint's deliveries, newest first: pending, delivered or failed, and how each attempt went",
      description:
        'At most `limit` per page. `next_cursor` is null on the last page; otherwise pass it as `cursor` for ' +
        'the next page. The cursor is opaque; one that is not a `next_cursor` is a 422.',
      tags: ['admin'],
      errorResponses: adminErrorResponses('Admin API off, or `Webhook endpoint not found`'),
    },
    admin: true,
  })
  .input(
    z.object({
      endpointId: WebhookEndpointId,
      limit: z.coerce.number().int().min(1).max(500).default(50),
      cursor: WebhookDeliveriesCursor.optional(),
    }),
  )
  .output(z.object({ deliveries: z.array(WebhookDeliveryView), next_cursor: NextCursor }))
  .query(async ({ input, ctx }) => {
    const page = await webhookEndpointsOf(ctx).deliveries(input.endpointId, {
      limit: input.limit,
      after: input.cursor,
    });
    return {
      deliveries: page.deliveries.map(webhookDeliveryView),
      next_cursor: page.next && WebhookDeliveriesCursor.encode(page.next),
    };
  });
