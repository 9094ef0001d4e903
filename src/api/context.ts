import type { TokenClaims } from '../auth/token-verifier.js';
import type { Administration } from '../domain/limits/administration.js';
import type { LimitsSource } from '../domain/limits/limits-source.js';
import type { LimitsChangeFeed } from '../domain/outbox/change-feed.js';
import type { WebhookEndpoints } from '../domain/outbox/endpoints.js';
import type { ActivityRollup } from '../domain/usage/activity.js';
import type { EntitlementsService } from '../domain/usage/entitlements.js';
import type { UsageService } from '../domain/usage/usage.js';
import type { WebhookStore } from '../domain/webhooks/webhook-store.js';

/** Everything a procedure may use, handed in once by the composition root (`createBillingApp`). */
export interface BillingServices {
  /** Resolves the `Authorization` header to the Engine's claims, or throws an `AuthenticationError`. */
  authenticateWorker(authorization: string | undefined): Promise<TokenClaims>;
  /** The same for admin tokens; absent when the admin API is off (no `BILLING_ADMIN_SECRET` or no store). */
  authenticateAdmin?: ((authorization: string | undefined) => Promise<TokenClaims>) | undefined;
  limits: LimitsSource;
  /** Counts one limits call: the plan answered (`none` without an answer) and the status it got. */
  recordLimitCheck(plan: string, status: number): void;
  administration?: Administration | undefined;
  /** The Orb events received, for operators; absent without a store. */
  webhookEvents?: Pick<WebhookStore, 'listWebhookEvents' | 'findWebhookEvent' | 'replayOrbEvent'> | undefined;
  /** Outbound webhook endpoints and their deliveries; absent without a store. */
  webhookEndpoints?: WebhookEndpoints | undefined;
  /** Reservations and usage; absent without a store. */
  usage?: UsageService | undefined;
  /** Grants, releases, refusals and expiries per hour, for operators; absent without a store. */
  activity?: Pick<ActivityRollup, 'hourly' | 'refusals'> | undefined;
  /** Each limit explained, with what holds it; absent without a store. */
  entitlements?: EntitlementsService | undefined;
  /** Every replica's limits changes, live, for the change streams; absent without a store. */
  limitsChanges?: Pick<LimitsChangeFeed, 'follow'> | undefined;
}

/** One request's context: built once per call by the HTTP adapter that received it. */
export interface BillingContext {
  /** The raw `Authorization` header; checked by the auth middleware, before input parsing. */
  authorization: string | undefined;
  /**
   * When the caller will have been answered 503 `Request timed out` (ms since the epoch), if the
   * request has a deadline: a write that has not started by then must not start at all.
   */
  deadline: number | undefined;
  /**
   * Adds a header to a successful answer (e.g. `Idempotent-Replayed`), where the adapter serving
   * the call has one per call: REST sets it; an in-process tRPC caller may pass its own.
   */
  setResponseHeader?: ((name: string, value: string) => void) | undefined;
  /** Aborted when the caller goes away: a stream (a subscription) ends with it. */
  signal?: AbortSignal | undefined;
  services: BillingServices;
}
