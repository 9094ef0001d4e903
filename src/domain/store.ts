import type { LimitsChange } from './limits/changes.js';
import type { TenantStore } from './limits/tenant-store.js';
import type { ConsoleSessionStore } from './operators/console-sessions.js';
import type { OutboxStore } from './outbox/outbox-store.js';
import type { ActivityStore } from './usage/activity-store.js';
import type { UsageStore } from './usage/usage-store.js';
import type { WebhookStore } from './webhooks/webhook-store.js';

/**
 * The store, one aggregate per field, assembled once (`src/db/store.ts`). Aggregates never reach
 * each other; a procedure reaches each through its context.
 */
export interface BillingStore {
  readonly tenants: TenantStore;
  readonly usage: UsageStore;
  readonly webhooks: WebhookStore;
  readonly outbox: OutboxStore;
  /** The hourly activity rollup (grants, releases, refusals, expiries per tenant × resource × hour). */
  readonly activity: ActivityStore;
  /** The operator console's signed-out sessions. */
  readonly consoleSessions: ConsoleSessionStore;
  /**
   * How cached limits learn of other replicas' writes: `notify` = their committed changes reach
   * `subscribe`'s listeners; `ttl` = no notification reaches this process (a LISTEN did not hear
   * its own NOTIFY: a transaction-mode pooler in between), so cached limits only expire.
   */
  readonly invalidation: 'notify' | 'ttl';
  /**
   * Calls `listener` for changes committed by any replica (this one included); returns the
   * unsubscribe. Never called when `invalidation` is `ttl`.
   */
  subscribe(listener: (change: LimitsChange) => void): () => void;
  /**
   * Calls `listener` when any replica commits outbound deliveries (the outbox's trigger notifies);
   * returns the unsubscribe. Never called when `invalidation` is `ttl`: dispatchers poll then.
   */
  onOutboxCommitted(listener: () => void): () => void;
  /** Aborted when `close` begins: background work on the store (the lease sweep) stops with it. */
  readonly closing: AbortSignal;
  /**
   * Work `close` runs once `closing` is aborted and waits for before the database closes (this
   * replica's last activity counts, flushed); a failure of it does not stop the close.
   */
  beforeClose(work: () => Promise<unknown>): void;
  ping(): Promise<void>;
  /** Checked-in migrations this database lacks: a replica should not take traffic while any are. */
  pendingMigrations(): Promise<number>;
  close(): Promise<void>;
}
