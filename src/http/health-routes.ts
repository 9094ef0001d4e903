import type { ObservedRoutes } from './request-observer.js';

export interface HealthOptions {
  /** What readiness asks of the store; absent when the app runs without one. */
  store?: { ping(): Promise<void>; pendingMigrations(): Promise<number> } | undefined;
  /** True once the process is shutting down. */
  isShuttingDown(): boolean;
}

/**
 * `/healthz` (the process answers) and `/readyz` (this replica should take traffic: not shutting
 * down, the store reachable and fully migrated). Never behind auth.
 */
export function mountHealthRoutes(routes: ObservedRoutes, { store, isShuttingDown }: HealthOptions): void {
  routes.on('GET', '/healthz', (c) => c.json({ status: 'ok' }));
  routes.on('GET', '/readyz', async (c) => {
    if (isShuttingDown()) return c.json({ detail: 'Shutting down' }, 503);
    let pending = 0;
    try {
      await store?.ping();
      pending = (await store?.pendingMigrations()) ?? 0;
    } catch {
      return c.json({ detail: 'Limits store unavailable' }, 503);
    }
    if (pending > 0)
      return c.json({ detail: `Limits store migrations not applied (${pending} pending)` }, 503);
    return c.json({ status: 'ok' });
  });
}
