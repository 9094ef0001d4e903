import type { StoreReadiness } from '../domain/store-health.js';
import type { ObservedRoutes } from './request-observer.js';

export interface HealthOptions {
  /** Whether the store lets this replica take traffic; absent when the app runs without one. */
  storeReadiness?: (() => Promise<StoreReadiness>) | undefined;
  /** True once the process is shutting down. */
  isShuttingDown(): boolean;
}

/**
 * `/healthz` (the process answers) and `/readyz` (this replica should take traffic: not shutting
 * down, the store fully migrated, and reachable — or unreachable for less than the stale limit,
 * while the cached answers are still worth serving: then 200 `degraded`, so that an outage of the
 * store doesn't take every replica out of the load balancer at once). Never behind auth.
 */
export function mountHealthRoutes(
  routes: ObservedRoutes,
  { storeReadiness, isShuttingDown }: HealthOptions,
): void {
  routes.on('GET', '/healthz', (c) => c.json({ status: 'ok' }));
  routes.on('GET', '/readyz', async (c) => {
    if (isShuttingDown()) return c.json({ detail: 'Shutting down' }, 503);
    const readiness = storeReadiness ? await storeReadiness() : undefined;
    switch (readiness?.status) {
      case undefined:
      case 'ok':
        return c.json({ status: 'ok' });
      case 'degraded':
        return c.json({
          status: 'degraded',
          store: 'unreachable',
          since: new Date(readiness.since).toISOString(),
        });
      case 'unavailable':
        return c.json({ detail: 'Limits store unavailable' }, 503);
      case 'migrations_pending':
        return c.json({ detail: `Limits store migrations not applied (${readiness.pending} pending)` }, 503);
    }
  });
}
