import { z } from 'zod';
import { CustomerId } from '../../contract/admin.js';
import { NextCursor } from '../../contract/cursor.js';
import { WebhookEventsCursor, WebhookEventView, WebhookOutcome } from '../../contract/webhooks.js';
import { adminProcedure } from '../trpc.js';
import { adminErrorResponses } from './views.js';
import { webhookEventView } from './webhook-event-view.js';

export const listWebhookEvents = adminProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/admin/webhook-events',
      operationId: 'listWebhookEvents',
      summary: 'Orb webhook events: what arrived and what was done, newest first',
      description:
        'Newest first (by `received_at`, then `event_id`), at most `limit` per page. `next_cursor` is null on ' +
        'the last page; otherwise pass it as `cursor` (with the same `customer_id` and `outcome`) for the next page. The ' +
        'cursor is opaque; one that is not a `next_cursor` is a 422.',
      tags: ['admin'],
      errorResponses: adminErrorResponses('Admin API off'),
    },
    admin: true,
  })
  .input(
    z.object({
      customer_id: CustomerId.optional(),
      outcome: WebhookOutcome.optional().meta({ description: 'Only events that had this outcome.' }),
      limit: z.coerce.number().int().min(1).max(500).default(50),
      cursor: WebhookEventsCursor.optional(),
    }),
  )
  .output(
    z.object({
      events: z.array(WebhookEventView),
      next_cursor: NextCursor,
    }),
  )
  .query(async ({ input, ctx }) => {
    const page = await ctx.webhookEvents.listWebhookEvents({
      customerId: input.customer_id,
      outcome: input.outcome,
      limit: input.limit,
      after: input.cursor,
    });
    return {
      events: page.events.map(webhookEventView),
      next_cursor: page.next && WebhookEventsCursor.encode(page.next),
    };
  });
