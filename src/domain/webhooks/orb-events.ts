import { CustomerId } from '../../contract/admin.js';
import type { PlanType } from '../../contract/plans.js';
import type { OrbWebhookEvent, WebhookReceipt } from '../../contract/webhooks.js';
import { orUnavailable, webhookEventNotFound } from '../errors.js';
import type { LimitsChange } from '../limits/changes.js';
import type { EventAction, WebhookEventRecord, WebhookStore } from './webhook-store.js';

/** Subscription events that put the customer on the subscription's plan. */
export const PLAN_EVENT_TYPES = [
  'subscription.created',
  'subscription.started',
  'subscription.plan_changed',
] as const;
const PLAN_EVENTS = new Set<string>(PLAN_EVENT_TYPES);
/** A subscription that ends leaves the customer on the default plan. */
export const END_EVENT = 'subscription.ended';

export interface OrbEventsOptions {
  store: WebhookStore;
  /** This replica's cache forgets what an applied event changed (other replicas hear it from the store). */
  apply(change: LimitsChange): void;
  /** The plan a customer falls back to when its subscription ends. */
  defaultPlan: PlanType;
  /** An operator must notice these: an Orb plan no catalog plan maps to, an event without a customer, a malformed id. */
  warn(message: string, fields: Record<string, unknown>): void;
}

/** In a `u` regex a lone surrogate is a code point of its own (category Cs); a valid pair is not. */
const LONE_SURROGATE = /\p{Cs}/u;
const UNPRINTABLE = /\p{Cc}|\p{Cs}/gu;

/** Which id of an event breaks the rule, and how. */
export interface MalformedId {
  field: 'id' | 'type' | 'subscription.customer.external_customer_id' | 'subscription.plan.external_plan_id';
  reason: string;
}

/**
 * The first id of `event` that breaks the rule every id of ours obeys — the admin API's
 * `CustomerId` (Orb's external customer id is our customer id): 1–255 characters, no control
 * characters — and is well-formed Unicode. A NUL or a lone surrogate can't be stored at all; any
 * other control character would make a customer the admin API can never address.
 */
export function malformedIdOf(event: OrbWebhookEvent): MalformedId | undefined {
  const ids: [MalformedId['field'], string | null | undefined][] = [
    ['id', event.id],
    ['type', event.type],
    ['subscription.customer.external_customer_id', event.subscription?.customer?.external_customer_id],
    ['subscription.plan.external_plan_id', event.subscription?.plan?.external_plan_id],
  ];
  for (const [field, value] of ids) {
    if (value === null || value === undefined) continue;
    const reason = idProblemOf(value);
    if (reason) return { field, reason };
  }
  return undefined;
}

function idProblemOf(value: string): string | undefined {
  // A lone surrogate can't be encoded: PostgreSQL refuses it in jsonb and a driver writes it as U+FFFD.
  if (LONE_SURROGATE.test(value)) return 'is not well-formed Unicode';
  const checked = CustomerId.safeParse(value);
  if (checked.success) return undefined;
  const [issue] = checked.error.issues;
  if (issue?.code === 'too_small') return 'is empty';
  if (issue?.code === 'too_big') return `is longer than ${issue.maximum} characters`;
  return 'contains a control character';
}

/**
 * `value` with every control character and lone surrogate written as `\uXXXX`: how a malformed
 * event id or type is recorded and logged (neither can be stored as it is; the same id always
 * gets the same form, so Orb's redeliveries of it are duplicates).
 */
export function printable(value: string): string {
  return value.replace(UNPRINTABLE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A plan event's action: the catalog plan mapped to its Orb plan, if it names one. */
function planEventAction(externalPlanId: string | null | undefined): EventAction {
  if (!externalPlanId)
    return { kind: 'record', outcome: 'unmapped_plan', detail: { external_plan_id: null } };
  return { kind: 'plan_by_orb_id', externalPlanId };
}

/** What an event asks for, before the store decides whether it is new, in order and mappable. */
export function actionFor(event: OrbWebhookEvent, defaultPlan: PlanType): EventAction {
  if (event.type === END_EVENT) return { kind: 'plan', planId: defaultPlan };
  if (!PLAN_EVENTS.has(event.type)) return { kind: 'record', outcome: 'ignored' };
  return planEventAction(event.subscription?.plan?.external_plan_id);
}

/**
 * What a recorded `unmapped_plan` event asks for now: its Orb plan (recorded in its detail), under
 * the rules a delivery obeys today — an event recorded before ids were checked is `rejected`.
 */
function replayActionFor(record: WebhookEventRecord): EventAction {
  const recorded = record.detail?.['external_plan_id'];
  const externalPlanId = typeof recorded === 'string' ? recorded : null;
  const ids: [MalformedId['field'], string | null][] = [
    ['subscription.customer.external_customer_id', record.customerId],
    ['subscription.plan.external_plan_id', externalPlanId],
  ];
  for (const [field, value] of ids) {
    const reason = value === null ? undefined : idProblemOf(value);
    if (reason) return { kind: 'record', outcome: 'rejected', detail: { field, reason } };
  }
  return planEventAction(externalPlanId);
}

export interface OrbEventReplayOptions {
  store: Pick<WebhookStore, 'findWebhookEvent' | 'replayOrbEvent'>;
  /** This replica's cache forgets what the replay changed. */
  apply(change: LimitsChange): void;
}

/**
 * Re-applies a recorded event once an operator has mapped its Orb plan. Only an `unmapped_plan`
 * event can come out differently; any other is answered as recorded (applied, stale, ignored,
 * rejected and unmapped_customer are final), so a replay is idempotent. Audited as `actor`.
 */
export async function replayOrbEvent(
  options: OrbEventReplayOptions,
  eventId: string,
  actor: string,
): Promise<WebhookEventRecord> {
  const record = await orUnavailable(options.store.findWebhookEvent(eventId));
  if (!record) throw webhookEventNotFound();
  if (record.outcome !== 'unmapped_plan') return record;
  const replayed = await orUnavailable(options.store.replayOrbEvent(eventId, replayActionFor(record), actor));
  if (!replayed) throw webhookEventNotFound();
  if (replayed.change) options.apply(replayed.change);
  return replayed.record;
}

/** Handles one verified Orb event: exactly once, in order, audited. */
export function createOrbEventHandler(options: OrbEventsOptions) {
  async function reject(event: OrbWebhookEvent, rawBody: string, malformed: MalformedId) {
    const id = printable(event.id);
    const type = printable(event.type);
    const customer = event.subscription?.customer?.external_customer_id;
    const customerId = customer && !idProblemOf(customer) ? customer : null;
    const result = await orUnavailable(
      options.store.recordOrbEvent(
        { id, type, createdAt: new Date(event.created_at), customerId, rawBody },
        { kind: 'record', outcome: 'rejected', detail: { ...malformed } },
      ),
    );
    if (result.outcome === 'rejected') {
      options.warn('orb webhook: rejected, nothing applied', { event_id: id, type, ...malformed });
    }
    return { event_id: id, outcome: result.outcome };
  }

  return async function handleOrbEvent(event: OrbWebhookEvent, rawBody: string): Promise<WebhookReceipt> {
    // Answered 200 all the same: Orb would redeliver an event we refuse, and it never gets better.
    const malformed = malformedIdOf(event);
    if (malformed) return reject(event, rawBody, malformed);
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
