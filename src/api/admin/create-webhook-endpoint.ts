import { CreatedWebhookEndpoint, WebhookEndpointCreate } from '../../contract/outbound-webhooks.js';
import { adminProcedure } from '../trpc.js';
import { adminErrorResponses } from './views.js';
import { webhookEndpointsOf, webhookEndpointView } from './webhook-endpoint-views.js';

export const createWebhookEndpoint = adminProcedure
  .meta({
    openapi: {
      method: 'POST',
      path: '/admin/webhook-endpoints',
      operationId: 'createWebhookEndpoint',
      summary: 'Send signed events (limits.changed, …) to a URL',
      description:
        'Every event of the types in `events` (left out: every type, those added later too) is POSTed to `url`, ' +
        'signed the Standard Webhooks way with `secret` — shown only in this answer. At least once, retried with ' +
        'backoff for about 24 hours; one tenant’s events in `sequence` order. A URL whose host is or resolves to a ' +
        'loopback, private, link-local or metadata address is a 422 (unless `BILLING_WEBHOOK_ALLOW_PRIVATE=true`), ' +
        'and is checked again at each attempt.',
      tags: ['admin'],
      errorResponses: adminErrorResponses('Admin API off', { withBody: true }),
    },
    admin: true,
    successStatus: 201,
  })
  .input(WebhookEndpointCreate)
  .output(CreatedWebhookEndpoint)
  .mutation(async ({ input, ctx }) => {
    const { endpoint, secret } = await webhookEndpointsOf(ctx).create(input, ctx.actor);
    return { ...webhookEndpointView(endpoint), secret };
  });
