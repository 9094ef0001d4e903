import { Scalar } from '@scalar/hono-api-reference';
import { Hono } from 'hono';
import type { BillingContext, BillingServices } from './api/context.js';
import { INTERNAL_SERVER_ERROR } from './api/errors.js';
import { ADMIN_AUDIENCE } from './auth/admin-token.js';
import { bearerTokenFrom } from './auth/authorization-header.js';
import type { TokenClaims } from './auth/token-verifier.js';
import { createTokenVerifier } from './auth/token-verifier.js';
import { WORKER_AUDIENCE, WORKER_TOKEN_VERSION } from './auth/worker-token.js';
import type { PlanType } from './contract/plans.js';
import { buildOpenApiDocument } from './http/openapi.js';
import { mountOrbWebhook } from './http/orb-webhook-route.js';
import { allowedMethodsOf, mountRestRoutes } from './http/rest-routes.js';
import { mountTrpcEndpoint } from './http/trpc-endpoint.js';
import { createAdministration } from './limits/administration.js';
import type { PlanCatalog } from './limits/catalog.js';
import { createLimitsSource, type PlanSource } from './limits/limits-source.js';
import type { LimitsStore } from './limits/limits-store.js';
import type { CacheEvent } from './limits/read-through-cache.js';
import { createUsageService } from './usage/usage.js';
import { createOrbEventHandler } from './webhooks/orb-events.js';

export interface BillingAppOptions {
  /** HS256 secret of the Engine's worker tokens. Required unless `disableAuth`. */
  secret?: string | undefined;
  /** Accept every request without a worker token. For tests and local development only. */
  disableAuth?: boolean | undefined;
  /**
   * Where a tenant's plan comes from. `database` (the default with a store): the tenant's plan and
   * overrides; unknown tenant → 404. `header`: trust `x-plan-type`, as the original did.
   */
  planSource?: PlanSource | undefined;
  /** The plan catalog, tenants and overrides; without one, `header` mode with `catalog`. */
  store?: LimitsStore | undefined;
  /** The catalog when there is no store; defaults to the original's limits. */
  catalog?: PlanCatalog | undefined;
  /** HS256 secret of admin tokens (aud `billing-admin`); the admin API is off without it (404). */
  adminSecret?: string | undefined;
  /** How long an answer read from the store is served from memory (default 5 minutes). */
  cacheTtlMs?: number | undefined;
  /** How many tenants' answers the cache holds (default 100,000). */
  cacheMaxEntries?: number | undefined;
  /** Leeway for `exp`/`nbf`/`iat` in seconds (default 0, as the original). */
  clockToleranceSeconds?: number | undefined;
  /** How many verified tokens to remember (default 10,000; 0 = verify every request). */
  tokenCacheSize?: number | undefined;
  /** Milliseconds since the epoch; tests inject their own clock. */
  now?: (() => number) | undefined;
  /** Called with every error that became a 500, so it reaches a log; the caller only sees `Internal Server Error`. */
  onUnexpectedError?: ((error: unknown) => void) | undefined;
  /** Orb's webhook signing secret; `POST /webhooks/orb` is off (404) without it. Needs a store. */
  orbWebhookSecret?: string | undefined;
  /** The plan a customer falls back to when its Orb subscription ends (default `free`). */
  orbDefaultPlan?: PlanType | undefined;
  /** Operator-facing warnings (an unmapped Orb plan, a refused webhook); default: one JSON line on stderr. */
  warn?: ((message: string, fields: Record<string, unknown>) => void) | undefined;
  /** Called on every cache hit, miss, stale answer and invalidation (metrics). */
  onCacheEvent?: ((event: CacheEvent) => void) | undefined;
}

const AUTH_DISABLED: TokenClaims = Object.freeze({ sub: 'auth-disabled' });

/** `Authorization: Bearer <token>` checked by one verifier (worker or admin tokens). */
function bearerAuthenticator(
  options: BillingAppOptions,
  token: { secret: string; audience: string; requiredVersion?: string; cacheSize: number },
): BillingServices['authenticateWorker'] {
  const verify = createTokenVerifier({
    ...token,
    clockToleranceSeconds: options.clockToleranceSeconds ?? 0,
    now: options.now ?? (() => Date.now()),
  });
  return (authorization) => verify(bearerTokenFrom(authorization));
}

function warnOnStderr(message: string, fields: Record<string, unknown>): void {
  console.error(JSON.stringify({ level: 'warn', msg: message, ...fields }));
}

function reportToStderr(error: unknown): void {
  console.error('billing: unexpected error', error);
}

/**
 * The billing limits service as a Hono app: REST routes derived from the procedures' OpenAPI
 * meta, tRPC at `/trpc`, the OpenAPI document and a reference page. No `listen` here: mount it
 * in any Hono or Node server (`src/server.ts` is one).
 *
 * @example
 * const app = createBillingApp({ secret: process.env.BILLING_JWT_SECRET });
 * serve({ fetch: app.fetch, port: 8000 });
 */
export function createBillingApp(options: BillingAppOptions): Hono {
  const { disableAuth = false, onUnexpectedError = reportToStderr, store } = options;
  if (!disableAuth && !options.secret) {
    throw new Error('createBillingApp: a worker-token secret is required unless disableAuth is set');
  }
  const limits = createLimitsSource({
    mode: options.planSource ?? (store ? 'database' : 'header'),
    store,
    catalog: options.catalog,
    cacheTtlMs: options.cacheTtlMs,
    cacheMaxEntries: options.cacheMaxEntries,
    onCacheEvent: options.onCacheEvent,
  });
  // Other replicas' writes arrive through the store; this replica's own are applied as they commit.
  store?.subscribe((change) => limits.apply(change));
  const services: BillingServices = {
    authenticateWorker: disableAuth
      ? async () => AUTH_DISABLED
      : bearerAuthenticator(options, {
          secret: options.secret ?? '',
          audience: WORKER_AUDIENCE,
          requiredVersion: WORKER_TOKEN_VERSION,
          cacheSize: options.tokenCacheSize ?? 10_000,
        }),
    authenticateAdmin: options.adminSecret
      ? bearerAuthenticator(options, {
          secret: options.adminSecret,
          audience: ADMIN_AUDIENCE,
          cacheSize: 1_000,
        })
      : undefined,
    limits,
    administration: store ? createAdministration(store, (change) => limits.apply(change)) : undefined,
    usage: store ? createUsageService(store) : undefined,
  };
  const createContext = (authorization: string | undefined): BillingContext => ({ authorization, services });

  const app = new Hono();
  mountRestRoutes(app, { createContext, onUnexpectedError });
  if (options.orbWebhookSecret) {
    if (!store) throw new Error('createBillingApp: the Orb webhook needs a store');
    const warn = options.warn ?? warnOnStderr;
    mountOrbWebhook(app, {
      secret: options.orbWebhookSecret,
      handle: createOrbEventHandler({
        store,
        apply: (change) => limits.apply(change),
        defaultPlan: options.orbDefaultPlan ?? 'free',
        warn,
      }),
      onRefused: (reason) => warn('orb webhook refused', { reason }),
      onUnexpectedError,
      now: options.now ?? (() => Date.now()),
    });
  }
  mountTrpcEndpoint(app, createContext, onUnexpectedError);

  // Health checks: never behind auth. `readyz` says whether this replica can answer from the store.
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    try {
      await store?.ping();
      return c.json({ status: 'ok' });
    } catch {
      return c.json({ detail: 'Limits store unavailable' }, 503);
    }
  });

  let openApiDocument: string | undefined;
  app.get('/openapi.json', (c) => {
    openApiDocument ??= JSON.stringify(buildOpenApiDocument());
    return c.body(openApiDocument, 200, { 'Content-Type': 'application/json' });
  });
  app.get('/docs', Scalar({ url: '/openapi.json', pageTitle: 'Billing limits service' }));

  const allowedMethods = allowedMethodsOf();
  app.notFound((c) => {
    const allowed = allowedMethods(c.req.path);
    if (allowed.length > 0)
      return c.json({ detail: 'Method Not Allowed' }, 405, { Allow: allowed.join(', ') });
    return c.json({ detail: 'Not Found' }, 404);
  });
  app.onError((error, c) => {
    onUnexpectedError(error);
    return c.json({ detail: INTERNAL_SERVER_ERROR }, 500);
  });
  return app;
}
