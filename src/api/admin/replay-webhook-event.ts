import { z } from 'zod';
import { WebhookEventId, WebhookEventView } from '../../contract/webhooks.js';
import { replayOrbEvent } from '../../domain/webhooks/orb-events.js';
import { adminProcedure } from '../trpc.js';
import { adminErrorResponses } from './views.js';
import { webhookEventView } from './webhook-event-view.js';

export const replayWebhookEvent = adminProcedure
  .meta({
    openapi: {
      method: 'POST',
      path: '/admin/webhook-events/{eventId}/replay',
      operationId: 'replayWebhookEvent',
      summary: 'Re-apply a recorded Orb event, e.g. an unmapped_plan one once its Orb plan is mapped',
      description:
        'No body. An `unmapped_plan` event is carried out as its delivery would be now: ' +
        '`applied` when a plan has its Orb plan id (the customer gets it at once, on every replica), ' +
        '`stale` when an event applied to its customer is newer, still `unmapped_plan` otherwise; ' +
        'audited with the token’s `sub` as the actor. Any other event is answered as recorded and ' +
        'nothing changes, so replaying is idempotent. Answers the event as `GET /admin/webhook-events` shows it.',
      tags: ['admin'],
      errorResponses: adminErrorResponses('Admin API off, or `Webhook event not found`', { withBody: true }),
    },
    admin: true,
  })
  .input(z.strictObject({ eventId: WebhookEventId }))
  .output(WebhookEventView)
  .mutation(async ({ input, ctx }) =>
    webhookEventView(
      await replayOrbEvent(
        { store: ctx.webhookEvents, apply: ctx.services.limits.apply },
        input.eventId,
        ctx.actor,
      ),
    ),
  );
