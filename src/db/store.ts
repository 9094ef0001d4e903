import { setMaxListeners } from 'node:events';
import type { BillingStore } from '../domain/store.js';
import { createActivityStore } from './activity-store.js';
import { createConsoleSessionStore } from './console-session-store.js';
import { type DatabaseHandle, type DatabaseOptions, openDatabase } from './database.js';
import { DEMO_TENANTS } from './demo-tenants.js';
import { changeOf, LIMITS_CHANNEL } from './journal.js';
import { type AlertThresholds, writeAlertThresholds } from './limit-alerts.js';
import { OUTBOX_CHANNEL } from './outbox.js';
import { createOutboxStore } from './outbox-store.js';
import { createTenantStore } from './tenant-store.js';
import { createUsageStore } from './usage-store.js';
import { createWebhookStore } from './webhook-store.js';

export interface OpenStoreOptions extends DatabaseOptions {
  /** Seed the demo tenants (`org-123`, `org-456`, `org-789`) unless this database was seeded before. */
  seedDemo?: boolean;
  /** Written for the whole database when given (a server's; the last replica started wins); else as they are. */
  alertThresholds?: AlertThresholds;
}

/**
 * The store over an open database: one store per aggregate, and the replicas' committed changes
 * handed to every subscriber — when they reach this process (`invalidation`: see the
 * BillingStore). Closing the store closes the database.
 */
export async function storeOver(handle: DatabaseHandle): Promise<BillingStore> {
  const listeners = new Set<Parameters<BillingStore['subscribe']>[0]>();
  const notified = await handle.listen(LIMITS_CHANNEL, (payload) => {
    const change = changeOf(payload);
    for (const listener of listeners) listener(change);
  });
  const outboxListeners = new Set<() => void>();
  if (notified) {
    await handle.listen(OUTBOX_CHANNEL, () => {
      for (const listener of outboxListeners) listener();
    });
  }
  const { db } = handle;
  const closing = new AbortController();
  // Every app built on this store stops its periodic tasks (lease sweep, outbox pruning, activity
  // flush, …) on this signal: five listeners a server. Tests build dozens of apps on one store;
  // Node's leak warning (past 10 listeners) would be noise there, not a leak.
  setMaxListeners(0, closing.signal);
  const lastWork: (() => Promise<unknown>)[] = [];
  return {
    tenants: createTenantStore(db),
    usage: createUsageStore(db),
    webhooks: createWebhookStore(db),
    outbox: createOutboxStore(db),
    activity: createActivityStore(db),
    consoleSessions: createConsoleSessionStore(db),
    invalidation: notified ? 'notify' : 'ttl',
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onOutboxCommitted(listener) {
      outboxListeners.add(listener);
      return () => outboxListeners.delete(listener);
    },
    closing: closing.signal,
    beforeClose(work) {
      lastWork.push(work);
    },
    ping: () => handle.ping(),
    pendingMigrations: () => handle.pendingMigrations(),
    async close() {
      closing.abort();
      // Taken out first: a second close does not run them again.
      const work = lastWork.splice(0);
      await Promise.allSettled(work.map(async (run) => run()));
      return handle.close();
    },
  };
}

/**
 * The store's whole life in one place: opens the database (migrating it), assembles the store,
 * listens for every replica's committed changes, seeds the demo tenants once, and closes it all.
 */
export async function openBillingStore(options: OpenStoreOptions): Promise<BillingStore> {
  const handle = await openDatabase(options);
  try {
    const store = await storeOver(handle);
    if (options.alertThresholds) await writeAlertThresholds(handle.db, options.alertThresholds);
    if (options.seedDemo) await store.tenants.seedOnce('demo-tenants', DEMO_TENANTS);
    return store;
  } catch (error) {
    await handle.close();
    throw error;
  }
}
