import { Scalar } from '@scalar/hono-api-reference';
import { type Context, Hono } from 'hono';
import type { BillingServices } from './api/context.js';
import { INTERNAL_SERVER_ERROR } from './api/errors.js';
import { ADMIN_AUDIENCE } from './auth/admin-token.js';
import { bearerTokenFrom } from './auth/authorization-header.js';
import type { TokenClaims } from './auth/token-verifier.js';
import { createTokenVerifier } from './auth/token-verifier.js';
import { WORKER_AUDIENCE, WORKER_TOKEN_VERSION } from './auth/worker-token.js';
import type { PlanType } from './contract/plans.js';
import { metricsRoute } from './http/metrics-route.js';
import { buildOpenApiDocument } from './http/openapi.js';
import { mountOrbWebhook } from './http/orb-webhook-route.js';
import { firstHeaderValue } from './http/request-headers.js';
import { deadlineOf, observeRequests, requestIdOf } from './http/request-observer.js';
import { allowedMethodsOf, type EdgeOptions, mountRestRoutes } from './http/rest-routes.js';
import { mountTrpcEndpoint } from './http/trpc-endpoint.js';
import { createAdministration } from './limits/administration.js';
import type { PlanCatalog } from './limits/catalog.js';
import { createLimitsSource, type PlanSource } from './limits/limits-source.js';
import type { LimitsStore } from './limits/limits-store.js';
import type { CacheEvent } from './limits/read-through-cache.js';
import { defaultLogger, type Logger, throttledWarning } from './telemetry/logger.js';
import { createPrometheusMetrics, limitCheckOutcomeOf, type PrometheusMetrics } from './telemetry/metrics.js';
import type { RequestTracer } from './telemetry/tracing.js';
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
  /**
   * How long a read of a tenant's limits may wait for the store (default 2,000 ms; 0 = no limit)
   * before the last known answer is served, or 503 for a tenant never seen.
   */
  storeTimeoutMs?: number | undefined;
  /** Leeway for `exp`/`nbf`/`iat` in seconds (default 0, as the original). */
  clockToleranceSeconds?: number | undefined;
  /** How many verified tokens to remember (default 10,000; 0 = verify every request). */
  tokenCacheSize?: number | undefined;
  /** Milliseconds since the epoch; tests inject their own clock. */
  now?: (() => number) | undefined;
  /** Called with every error that became a 500 (default: the logger, with the request id); the caller only sees `Internal Server Error`. */
  onUnexpectedError?: ((error: unknown) => void) | undefined;
  /**
   * Structured logs: one line per request at `info` (probes at `debug`), warnings, unexpected
   * errors. Default: warnings and errors as JSON lines on stderr.
   */
  logger?: Logger | undefined;
  /** Where metrics are recorded and scraped from; default: a Prometheus registry of this app's own. */
  metrics?: PrometheusMetrics | undefined;
  /** Where `GET` serves the metrics (default `/metrics`); `false` when they are served elsewhere (their own port). */
  metricsPath?: string | false | undefined;
  /** A server span per request, when tracing is on (`startTracing`). */
  tracer?: RequestTracer | undefined;
  /** A request whose handler runs longer is answered 503 `Request timed out` (default 10,000 ms; 0 = no limit). */
  requestTimeoutMs?: number | undefined;
  /** True once the process is shutting down: `/readyz` answers 503 so that load balancers stop sending. */
  isShuttingDown?: (() => boolean) | undefined;
  /** Orb's webhook signing secret; `POST /webhooks/orb` is off (404) without it. Needs a store. */
  orbWebhookSecret?: string | undefined;
  /** The plan a customer falls back to when its Orb subscription ends (default `free`). */
  orbDefaultPlan?: PlanType | undefined;
  /** Operator-facing warnings (an unmapped Orb plan, a refused webhook); default: the logger at `warn`. */
  warn?: ((message: string, fields: Record<string, unknown>) => void) | undefined;
  /** Called on every cache hit, miss, stale answer and invalidation (metrics). */
  onCacheEvent?: ((event: CacheEvent) => void) | undefined;
}

/** The procedure whose calls are the limit checks counted in `billing_limit_checks_total`. */
const LIMITS_PROCEDURE = 'billing.limits';

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

/** The plan a `billing.limits` answer names, for the limit-check metric; `none` when there is no answer. */
function planAnswered(output: unknown): string {
  const limits = (output as { limits?: { plan_type?: unknown } } | undefined)?.limits;
  return typeof limits?.plan_type === 'string' ? limits.plan_type : 'none';
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
  const { disableAuth = false, store, logger = defaultLogger(), isShuttingDown = () => false } = options;
  if (!disableAuth && !options.secret) {
    throw new Error('createBillingApp: a worker-token secret is required unless disableAuth is set');
  }
  const metrics = options.metrics ?? createPrometheusMetrics();
  const onUnexpectedError = (error: unknown, c?: Context) => {
    if (options.onUnexpectedError) options.onUnexpectedError(error);
    else logger.error({ err: error, req_id: c && requestIdOf(c) }, 'unexpected error');
  };
  const storeUnavailable = throttledWarning(logger, 'limits store unavailable', 10_000);
  const onServerError = (error: unknown, status: number, c: Context) => {
    if (status === 500) onUnexpectedError(error, c);
    else storeUnavailable({ err: error, req_id: requestIdOf(c), status });
  };
  const warn = options.warn ?? ((message, fields) => logger.warn(fields, message));
  const limits = createLimitsSource({
    mode: options.planSource ?? (store ? 'database' : 'header'),
    store,
    catalog: options.catalog,
    cacheTtlMs: options.cacheTtlMs,
    cacheMaxEntries: options.cacheMaxEntries,
    storeTimeoutMs: options.storeTimeoutMs,
    onCacheEvent(event) {
      metrics.cacheEvent(event);
      options.onCacheEvent?.(event);
    },
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
    usage: store
      ? createUsageService(store, { onViolation: (violation) => metrics.limitViolation(violation) })
      : undefined,
  };
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const edge: EdgeOptions = {
    createContext: (c) => ({
      authorization: firstHeaderValue(c, 'authorization'),
      services,
      deadline: deadlineOf(c),
    }),
    onServerError,
    onCallResult({ path, status, output }) {
      if (path !== LIMITS_PROCEDURE) return;
      metrics.limitCheck({
        plan: planAnswered(output),
        source: limits.mode,
        outcome: limitCheckOutcomeOf(status),
      });
    },
  };

  const app = new Hono();
  app.use(
    observeRequests({
      logger,
      metrics,
      tracer: options.tracer,
      requestTimeoutMs,
    }),
  );
  mountRestRoutes(app, edge);
  if (options.orbWebhookSecret) {
    if (!store) throw new Error('createBillingApp: the Orb webhook needs a store');
    mountOrbWebhook(app, {
      secret: options.orbWebhookSecret,
      handle: createOrbEventHandler({
        store,
        apply: (change) => limits.apply(change),
        defaultPlan: options.orbDefaultPlan ?? 'free',
        warn,
      }),
      onRefused: (reason) => warn('orb webhook refused', { reason }),
      onDelivery: (delivery) => metrics.webhookEvent(delivery),
      onServerError,
      now: options.now ?? (() => Date.now()),
    });
  }
  mountTrpcEndpoint(app, edge);

  // Health checks: never behind auth. `readyz` says whether this replica should take traffic.
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
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
  const metricsPath = options.metricsPath ?? '/metrics';
  if (metricsPath) app.get(metricsPath, metricsRoute(metrics));

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
    onUnexpectedError(error, c);
    return c.json({ detail: INTERNAL_SERVER_ERROR }, 500);
  });
  return app;
}
