import { z } from 'zod';
import { CustomerId } from '../../contract/admin.js';
import { WebhookEventView } from '../../contract/webhooks.js';
import { adminProcedure } from '../trpc.js';
import { adminErrorResponses } from './views.js';

export const listWebhookEvents = adminProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/admin/webhook-events',
      operationId: 'listWebhookEvents',
      summary: 'Orb webhook events: what arrived and what was done, newest first',
      tags: ['admin'],
      errorResponses: adminErrorResponses('Admin API off'),
    },
    admin: true,
  })
  .input(
    z.object({
      customer_id: CustomerId.optional(),
      limit: z.coerce.number().int().min(1).max(500).default(50),
    }),
  )
  .output(z.object({ events: z.array(WebhookEventView) }))
  .query(async ({ input, ctx }) => {
    const events = await ctx.webhookEvents.listWebhookEvents({
      customerId: input.customer_id,
      limit: input.limit,
    });
    return {
      events: events.map((event) => ({
        event_id: event.id,
        type: event.type,
        created_at: event.createdAt.toISOString(),
        received_at: event.receivedAt.toISOString(),
        customer_id: event.customerId,
        outcome: event.outcome,
        detail: event.detail,
      })),
    };
  });
