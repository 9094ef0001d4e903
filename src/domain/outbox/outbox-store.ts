import type { PagePosition } from '../../contract/cursor.js';
import type { DeliveryStatus, EventType, LimitsChangedData } from '../../contract/outbound-webhooks.js';

export interface WebhookEndpointRecord {
  id: string;
  url: string;
  /** `null`: every event type, those added later too. */
  events: EventType[] | null;
  description: string;
  createdAt: Date;
  disabledAt: Date | null;
  disabledReason: DisabledReason | null;
}

/** Why an endpoint was disabled: it asked for no more, or every attempt failed for too long. */
export type DisabledReason = 'answered 410 Gone' | 'failed continuously';

export interface NewWebhookEndpoint {
  url: string;
  events: EventType[] | null;
  description: string;
  secret: string;
}

export interface WebhookDeliveryRecord {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: EventType;
  sequence: number;
  tenantId: string | null;
  status: DeliveryStatus;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: Date | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

export interface WebhookDeliveriesPage {
  deliveries: WebhookDeliveryRecord[];
  next: PagePosition | null;
}

/** A delivery claimed for one attempt, with what it takes to make it. */
export interface ClaimedDelivery {
  id: string;
  endpointId: string;
  url: string;
  secret: string;
  /** This attempt's number: 1 for the first. */
  attempt: number;
  event: {
    id: string;
    type: EventType;
    sequence: number;
    createdAt: Date;
    tenantId: string | null;
    /** The data as written, without `sequence`. */
    data: Record<string, unknown>;
  };
}

/** How an attempt ended, and what follows for the delivery and its endpoint. */
export type AttemptOutcome =
  | { kind: 'delivered'; statusCode: number }
  | { kind: 'retry'; statusCode: number | null; error: string | null; retryInMs: number }
  | { kind: 'failed'; statusCode: number | null; error: string | null }
  /** 410 Gone: the receiver asks for no more; the endpoint is disabled. */
  | { kind: 'gone'; statusCode: number };

export type RedeliverResult = 'redelivered' | 'no_delivery' | 'endpoint_disabled';

/**
 * Outbound webhooks: the endpoints operators register, and one delivery per event and endpoint
 * (made by the database as events are written, see `src/db/outbox.ts`). Every operator's write
 * is audited in its transaction.
 */
export interface OutboxStore {
  createEndpoint(endpoint: NewWebhookEndpoint, actor: string): Promise<WebhookEndpointRecord>;
  listEndpoints(): Promise<WebhookEndpointRecord[]>;
  findEndpoint(endpointId: string): Promise<WebhookEndpointRecord | undefined>;
  /** False when there is no such endpoint. Its deliveries go with it. */
  deleteEndpoint(endpointId: string, actor: string): Promise<boolean>;
  /** Newest first (by `created_at`, then id), after `after` when given. */
  listDeliveries(
    endpointId: string,
    page: { limit: number; after?: PagePosition | undefined },
  ): Promise<WebhookDeliveriesPage>;
  /** Makes a delivery pending again, due now, with a fresh schedule of attempts. */
  redeliver(endpointId: string, deliveryId: string, actor: string): Promise<RedeliverResult>;
  /**
   * Claims at most `limit` due deliveries for one attempt each: a claimed delivery is not due
   * again for `leaseMs` (so a replica that dies mid-attempt leaves it to another). Never two of
   * one tenant for one endpoint, and never one while an earlier of them is pending.
   */
  claimDue(limit: number, leaseMs: number): Promise<ClaimedDelivery[]>;
  /**
   * Records an attempt's outcome, unless the delivery was redelivered (or its claim taken over)
   * since it was claimed: then it is left as it is now. A failure starts (or continues) the endpoint's run of failures;
   * one that began `disableAfterMs` ago or more disables it. True when the endpoint was disabled
   * by this outcome (410 Gone, or the run of failures); a disabled endpoint's pending deliveries
   * are failed.
   */
  finishAttempt(delivery: ClaimedDelivery, outcome: AttemptOutcome, disableAfterMs: number): Promise<boolean>;
  /** How long until the next pending delivery is due (0: now); undefined when none is pending. */
  nextDueInMs(): Promise<number | undefined>;
  /** Pending deliveries to enabled endpoints. */
  pendingCount(): Promise<number>;
  /**
   * Deletes events written more than `retentionDays` ago, with their deliveries, unless one of
   * those is still pending; at most `limit` events a call. Resolves with how many it deleted.
   */
  pruneEvents(retentionDays: number, limit: number): Promise<number>;
  /**
   * Committed `limits.changed` events after sequence `after`, oldest first, at most `limit`; one
   * tenant's when `tenantId` is given. Each carries its `sequence`.
   */
  limitsChangesAfter(
    after: number,
    options: { tenantId?: string | undefined; limit: number },
  ): Promise<LimitsChangedData[]>;
  /**
   * The newest committed `limits.changed` event's sequence (0: none yet), and the highest of them
   * pruned (0: none): a resume from before it may have missed events.
   */
  limitsChangesPosition(): Promise<{ newest: number; prunedThrough: number }>;
}
