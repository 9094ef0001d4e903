import { z } from 'zod';
import { WebhookEndpointView } from '../../contract/outbound-webhooks.js';
import { adminProcedure } from '../trpc.js';
import { adminErrorResponses } from './views.js';
import { webhookEndpointsOf, webhookEndpointView } from './webhook-endpoint-views.js';

export const listWebhookEndpoints = adminProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/admin/webhook-endpoints',
      operationId: 'listWebhookEndpoints',
      summary: 'The outbound webhook endpoints, oldest first (without their secrets)',
      tags: ['admin'],
      errorResponses: adminErrorResponses('Admin API off'),
    },
    admin: true,
  })
  // Nothing to ask; a tRPC caller may leave the input out.
  .input(z.object({}).optional())
  .output(z.object({ endpoints: z.array(WebhookEndpointView) }))
  .query(async ({ ctx }) => ({
    endpoints: (await webhookEndpointsOf(ctx).list()).map(webhookEndpointView),
  }));
