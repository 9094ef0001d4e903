import type { PlanType } from '../../contract/plans.js';
import type { OrbWebhookEvent, WebhookReceipt } from '../../contract/webhooks.js';
import { orUnavailable } from '../errors.js';
import type { LimitsChange } from '../limits/changes.js';
import type { EventAction, WebhookStore } from './webhook-store.js';

/** Subscription events that put the customer on the subscription's plan. */
const PLAN_EVENTS = new Set(['subscription.created', 'subscription.started', 'subscription.plan_changed']);
/** A subscription that ends leaves the customer on the default plan. */
const END_EVENT = 'subscription.ended';

export interface OrbEventsOptions {
  store: WebhookStore;
  /** This replica's cache forgets what an applied event changed (other replicas hear it from the store). */
  apply(change: LimitsChange): void;
  /** The plan a customer falls back to when its subscription ends. */
  defaultPlan: PlanType;
  /** An operator must notice these: an Orb plan no catalog plan maps to, an event without a customer. */
  warn(message: string, fields: Record<string, unknown>): void;
}

/** What an event asks for, before the store decides whether it is new, in order and mappable. */
export function actionFor(event: OrbWebhookEvent, defaultPlan: PlanType): EventAction {
  if (event.type === END_EVENT) return { kind: 'plan', planId: defaultPlan };
  if (!PLAN_EVENTS.has(event.type)) return { kind: 'record', outcome: 'ignored' };
  const externalPlanId = event.subscription?.plan?.external_plan_id;
  if (!externalPlanId)
    return { kind: 'record', outcome: 'unmapped_plan', detail: { external_plan_id: null } };
  return { kind: 'plan_by_orb_id', externalPlanId };
}

/** Handles one verified Orb event: exactly once, in order, audited. */
export function createOrbEventHandler(options: OrbEventsOptions) {
  return async function handleOrbEvent(event: OrbWebhookEvent, rawBody: string): Promise<WebhookReceipt> {
    const customerId = event.subscription?.customer?.external_customer_id ?? null;
    const result = await orUnavailable(
      options.store.recordOrbEvent(
        { id: event.id, type: event.type, createdAt: new Date(event.created_at), customerId, rawBody },
        actionFor(event, options.defaultPlan),
      ),
    );
    if (result.change) options.apply(result.change);
    if (result.outcome === 'unmapped_plan' || result.outcome === 'unmapped_customer') {
      options.warn(`orb webhook: ${result.outcome.replace('_', ' ')}, plan unchanged`, {
        event_id: event.id,
        type: event.type,
        customer_id: customerId,
        ...result.detail,
      });
    }
    return { event_id: event.id, outcome: result.outcome };
  };
}
