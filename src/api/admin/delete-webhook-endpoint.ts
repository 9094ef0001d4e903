import { z } from 'zod';
import { WebhookEndpointId } from '../../contract/outbound-webhooks.js';
import { adminProcedure } from '../trpc.js';
import { adminErrorResponses } from './views.js';
import { webhookEndpointsOf } from './webhook-endpoint-views.js';

export const deleteWebhookEndpoint = adminProcedure
  .meta({
    openapi: {
      method: 'DELETE',
      path: '/admin/webhook-endpoints/{endpointId}',
      operationId: 'deleteWebhookEndpoint',
      summary: 'Stop sending to an endpoint; its deliveries go with it',
      tags: ['admin'],
      errorResponses: adminErrorResponses('Admin API off, or `Webhook endpoint not found`'),
    },
    admin: true,
    successStatus: 204,
  })
  .input(z.strictObject({ endpointId: WebhookEndpointId }))
  .output(z.void())
  .mutation(async ({ input, ctx }) => {
    await webhookEndpointsOf(ctx).delete(input.endpointId, ctx.actor);
  });
