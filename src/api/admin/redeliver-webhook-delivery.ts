import { z } from 'zod';
import { WebhookDeliveryId, WebhookEndpointId } from '../../contract/outbound-webhooks.js';
import { adminProcedure } from '../trpc.js';
import { adminErrorResponses } from './views.js';
import { webhookEndpointsOf } from './webhook-endpoint-views.js';

export const redeliverWebhookDelivery = adminProcedure
  .meta({
    openapi: {
      method: 'POST',
      path: '/admin/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/redeliver',
      operationId: 'redeliverWebhookDelivery',
      summary: 'Send a delivery again (failed or delivered), with the same webhook-id',
      description:
        'No body. The delivery is pending again, due at once, with a fresh schedule of attempts (its `attempts` ' +
        'start again from 0); it is sent after any earlier pending event of its tenant. 409 when the endpoint is ' +
        'disabled. Audited with the token’s `sub` as the actor.',
      tags: ['admin'],
      errorResponses: {
        ...adminErrorResponses(
          'Admin API off, `Webhook endpoint not found` or `Webhook delivery not found`',
          {
            withBody: true,
          },
        ),
        409: 'Webhook endpoint is disabled',
      },
    },
    admin: true,
    successStatus: 202,
  })
  .input(z.strictObject({ endpointId: WebhookEndpointId, deliveryId: WebhookDeliveryId }))
  .output(z.object({ delivery_id: WebhookDeliveryId, status: z.literal('pending') }))
  .mutation(async ({ input, ctx }) => {
    await webhookEndpointsOf(ctx).redeliver(input.endpointId, input.deliveryId, ctx.actor);
    return { delivery_id: input.deliveryId, status: 'pending' as const };
  });
