import type { PagePosition } from '../../contract/cursor.js';
import type { PlanType } from '../../contract/plans.js';
import type { WebhookOutcome } from '../../contract/webhooks.js';
import type { LimitsChange } from '../limits/changes.js';

/** One verified delivery, as the store records it. */
export interface ReceivedEvent {
  id: string;
  type: string;
  createdAt: Date;
  /** Our customer id = Orb's `external_customer_id`; null when Orb sent none. */
  customerId: string | null;
  rawBody: string;
}

/** What the event asks of the store. */
export type EventAction =
  | {
      kind: 'record';
      outcome: Exclude<WebhookOutcome, 'applied' | 'duplicate' | 'stale'>;
      detail?: Record<string, unknown>;
    }
  | { kind: 'plan_by_orb_id'; externalPlanId: string }
  | { kind: 'plan'; planId: PlanType };

export interface EventResult {
  outcome: WebhookOutcome;
  detail?: Record<string, unknown> | undefined;
  change?: LimitsChange | undefined;
}

export interface WebhookEventRecord extends ReceivedEvent {
  receivedAt: Date;
  outcome: WebhookOutcome;
  detail: Record<string, unknown> | null;
}

/** One page of recorded events, newest first; `next` is where the following page starts, if any. */
export interface WebhookEventsPage {
  events: WebhookEventRecord[];
  next: PagePosition | null;
}

/** A replay's result: the event as recorded now, and what changed for the cache, if anything. */
export interface ReplayedEvent {
  record: WebhookEventRecord;
  change?: LimitsChange | undefined;
}

export interface WebhookStore {
  /**
   * Records the event once and does what it asks, in one transaction with the audit entry and
   * the replicas' notification: a replayed id is a `duplicate`, an event older than the last one
   * applied to its customer is `stale`, an unknown Orb plan id is `unmapped_plan`.
   */
  recordOrbEvent(event: ReceivedEvent, action: EventAction): Promise<EventResult>;
  /** Newest first (by `received_at`, then id), after `after` when given. */
  listWebhookEvents(filter: {
    customerId?: string | undefined;
    /** Only events that had this outcome. */
    outcome?: WebhookOutcome | undefined;
    limit: number;
    after?: PagePosition | undefined;
  }): Promise<WebhookEventsPage>;
  findWebhookEvent(id: string): Promise<WebhookEventRecord | undefined>;
  /**
   * Does what a recorded `unmapped_plan` event asks, as its delivery would have now: the same
   * ordering rule and transaction, audited as `actor`. An event recorded otherwise (meanwhile
   * too: the row is locked first) is answered as it is. Undefined: no event has this id.
   */
  replayOrbEvent(id: string, action: EventAction, actor: string): Promise<ReplayedEvent | undefined>;
}
