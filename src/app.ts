import { type Context, Hono } from 'hono';
import type { BillingServices } from './api/context.js';
import { domainErrorOf } from './api/errors.js';
import { ADMIN_AUDIENCE, ADMIN_REQUIRED_CLAIMS } from './auth/admin-token.js';
import { bearerTokenFrom } from './auth/authorization-header.js';
import { createTokenVerifier, type TokenClaims } from './auth/token-verifier.js';
import { WORKER_AUDIENCE, WORKER_TOKEN_VERSION } from './auth/worker-token.js';
import type { BillingConfig } from './config.js';
import { mountConsole } from './console/console-routes.js';
import { createAdministration } from './domain/limits/administration.js';
import type { PlanCatalog } from './domain/limits/catalog.js';
import { createLimitsSource } from './domain/limits/limits-source.js';
import type { CacheEvent } from './domain/limits/read-through-cache.js';
import { createLimitsChangeFeed, type LimitsChangeFeed } from './domain/outbox/change-feed.js';
import { type DispatcherOptions, startDispatcher } from './domain/outbox/dispatcher.js';
import { createWebhookEndpoints, type WebhookEndpoints } from './domain/outbox/endpoints.js';
import { startPeriodicTask } from './domain/periodic-task.js';
import type { BillingStore } from './domain/store.js';
import { createStoreHealth, createStoreReadiness } from './domain/store-health.js';
import { ACTIVITY_FLUSH_MS, type ActivityRollup, createActivityRollup } from './domain/usage/activity.js';
import { createEntitlementsService } from './domain/usage/entitlements.js';
import { createUsageService, type UsageService } from './domain/usage/usage.js';
import { createOrbEventHandler } from './domain/webhooks/orb-events.js';
import { mountDocsRoutes } from './http/docs-routes.js';
import { internalServerError, mountFallback } from './http/fallback.js';
import { mountHealthRoutes } from './http/health-routes.js';
import { mountLimitsChangesRoute } from './http/limits-changes-route.js';
import { metricsRoute } from './http/metrics-route.js';
import { mountOrbWebhook } from './http/orb-webhook-route.js';
import { firstHeaderValue } from './http/request-headers.js';
import { deadlineOf, observedRoutes, requestIdOf } from './http/request-observer.js';
import { mountRestRoutes } from './http/rest-routes.js';
import { mountTrpcEndpoint } from './http/trpc-endpoint.js';
import { webhookUrlProblem } from './http/webhook-address.js';
import { createWebhookSender } from './http/webhook-sender.js';
import { defaultLogger, type Logger, throttledWarning } from './telemetry/logger.js';
import {
  createPrometheusMetrics,
  limitCheckOutcomeOf,
  type PrometheusMetrics,
  type TokenKind,
} from './telemetry/metrics.js';
import type { RequestTracer } from './telemetry/tracing.js';

/**
 * Settings, named and typed as `loadConfig` reads them from the environment (so `src/server.ts`
 * hands its config over whole); every one optional here, with the same defaults.
 */
export type BillingAppConfig = Partial<
  Pick<
    BillingConfig,
    | 'jwtSecret'
    | 'disableAuth'
    | 'planSource'
    | 'adminSecret'
    | 'cacheTtlMs'
    | 'cacheMaxEntries'
    | 'storeTimeoutMs'
    | 'staleMaxMs'
    | 'clockToleranceSeconds'
    | 'tokenCacheSize'
    | 'requestTimeoutMs'
    | 'orbWebhookSecret'
    | 'orbDefaultPlan'
    | 'metricsPort'
    | 'leaseSweepMs'
    | 'webhookAllowPrivate'
    | 'eventRetentionDays'
  >
>;

/** What the app runs on: the store and the process's telemetry. Every one optional. */
export interface BillingAppDependencies {
  /** The plan catalog, tenants, overrides, usage and webhook events; without one, `header` mode on `catalog`. */
  store?: BillingStore | undefined;
  /** The catalog when there is no store; defaults to the original's limits. */
  catalog?: PlanCatalog | undefined;
  /** Structured logs (one line per request at `info`); default: warnings and errors as JSON on stderr. */
  logger?: Logger | undefined;
  /** Where metrics are recorded and scraped from; default: a Prometheus registry of this app's own. */
  metrics?: PrometheusMetrics | undefined;
  /** A server span per request, when tracing is on (`startTracing`). */
  tracer?: RequestTracer | undefined;
  /** Milliseconds since the epoch; tests inject their own clock (token expiry, webhook timestamps, the cache). */
  now?: (() => number) | undefined;
  /**
   * How this app's outbound webhook dispatcher retries and times attempts (defaults: see
   * `startDispatcher`; tests shorten them), or `false`: no dispatcher in this app (another app on
   * the same store sends; endpoints can still be managed).
   */
  dispatcher?:
    | Pick<DispatcherOptions, 'pollMs' | 'attemptTimeoutMs' | 'retryDelaysMs' | 'disableAfterMs'>
    | false
    | undefined;
  /**
   * The change streams' timing (tests shorten it): `heartbeatMs` between comments on a quiet REST
   * stream (default 15,000), `pollMs` between looks at the outbox when no notification comes
   * (default 5,000, or 1,000 where notifications do not reach this replica).
   */
  changeStreams?: { heartbeatMs?: number | undefined; pollMs?: number | undefined } | undefined;
  /**
   * The hourly activity rollup's timing (tests shorten it): `flushMs` between flushes of this
   * replica's counts to the store (default 5,000: what a crash loses at most).
   */
  activity?: { flushMs?: number | undefined } | undefined;
}

/** Callbacks into the embedding process. Every one optional. */
export interface BillingAppHooks {
  /** True once the process is shutting down: `/readyz` answers 503 so that load balancers stop sending. */
  isShuttingDown?: (() => boolean) | undefined;
  /** Every error that became a 500 (default: the logger, with the request id); the caller only sees `Internal Server Error`. */
  onUnexpectedError?: ((error: unknown) => void) | undefined;
  /** Operator-facing warnings (an unmapped Orb plan, a refused webhook); default: the logger at `warn`. */
  warn?: ((message: string, fields: Record<string, unknown>) => void) | undefined;
  /** Every cache hit, miss, stale answer and invalidation (besides the metric). */
  onCacheEvent?: ((event: CacheEvent) => void) | undefined;
  /**
   * Aborted when the server stops taking requests (a graceful shutdown): the open change streams
   * end, so that their subscribers resume on another replica and do not hold this one open.
   */
  streamsClosing?: AbortSignal | undefined;
}

export interface BillingAppOptions {
  config?: BillingAppConfig;
  dependencies?: BillingAppDependencies;
  hooks?: BillingAppHooks;
}

const AUTH_DISABLED: TokenClaims = Object.freeze({ sub: 'auth-disabled' });

/**
 * How long `/readyz` waits for the store: the limits reads' patience, but never so long that the
 * probe itself times out (Kubernetes' default is 1 s) — a probe that times out counts as a
 * failure, which is what a degraded answer (200) is there to avoid.
 */
const READINESS_STORE_WAIT_MAX_MS = 500;
const readinessTimeoutOf = (storeTimeoutMs: number) =>
  storeTimeoutMs > 0 ? Math.min(storeTimeoutMs, READINESS_STORE_WAIT_MAX_MS) : READINESS_STORE_WAIT_MAX_MS;

/** How often a replica deletes sent events past their retention, and how many at a time. */
const PRUNE_INTERVAL_MS = 60 * 60 * 1_000;
const PRUNE_BATCH = 1_000;

/**
 * Outbound webhooks on `store`: this replica's dispatcher (woken by every replica's commits, and
 * stopped when the store closes) and the endpoints service the admin API uses.
 */
function startOutboundWebhooks(
  store: BillingStore,
  config: BillingAppConfig,
  dependencies: BillingAppDependencies,
  telemetry: { logger: Logger; metrics: PrometheusMetrics; warn: NonNullable<BillingAppHooks['warn']> },
): WebhookEndpoints {
  const allowPrivate = config.webhookAllowPrivate ?? false;
  const endpoints = (wake: () => void) =>
    createWebhookEndpoints({
      store: store.outbox,
      urlProblem: (url) => webhookUrlProblem(url, { allowPrivate }),
      wake,
    });
  if (dependencies.dispatcher === false) return endpoints(() => {});
  const { logger, metrics, warn } = telemetry;
  let pending = 0;
  metrics.observeOutbox(() => pending);
  const dispatchFailed = throttledWarning(logger, 'webhook dispatch failed', 10_000);
  const dispatcher = startDispatcher({
    ...dependencies.dispatcher,
    store: store.outbox,
    send: createWebhookSender({ allowPrivate }),
    signal: store.closing,
    now: dependencies.now,
    onOutcome: ({ eventType, outcome }) => metrics.webhookDelivery({ event_type: eventType, outcome }),
    onEndpointDisabled: ({ endpointId, url, reason }) =>
      warn('webhook endpoint disabled', { endpoint_id: endpointId, url, reason }),
    onPendingCount: (count) => {
      pending = count;
    },
    onError: (error) => dispatchFailed({ err: error }),
  });
  store.onOutboxCommitted(dispatcher.wake);
  const pruneFailed = throttledWarning(logger, 'outbox pruning failed', 10_000);
  const retentionDays = config.eventRetentionDays ?? 7;
  startPeriodicTask({
    // A batch at a time, until none is left: a long-idle outbox is pruned without one huge delete.
    async run() {
      while ((await store.outbox.pruneEvents(retentionDays, PRUNE_BATCH)) === PRUNE_BATCH) {
        if (store.closing.aborted) return;
      }
    },
    intervalMs: PRUNE_INTERVAL_MS,
    signal: store.closing,
    onError: (error) => pruneFailed({ err: error }),
    runAtStart: true,
  });
  return endpoints(dispatcher.wake);
}

/**
 * The hourly activity rollup of this replica: counted in memory, flushed every few seconds and
 * once more when the store closes (a crash loses at most one interval). A replica that counted
 * something prunes the rows past retention after its first flush, then hourly: one that never
 * counts anything never touches the table.
 */
function startActivityRollup(
  store: BillingStore,
  dependencies: BillingAppDependencies,
  { logger, now }: { logger: Logger; now: () => number },
): ActivityRollup {
  const dropped = throttledWarning(
    logger,
    'activity counts dropped: the store has not taken them for long',
    10_000,
  );
  const rollup = createActivityRollup({
    store: store.activity,
    now,
    onDropped: () => dropped({ pending: rollup.pending }),
  });
  const flushFailed = throttledWarning(logger, 'activity flush failed', 10_000);
  let pruneDue = Number.NEGATIVE_INFINITY;
  startPeriodicTask({
    async run() {
      if (rollup.pending === 0) return;
      await rollup.flush();
      if (now() < pruneDue) return;
      pruneDue = now() + PRUNE_INTERVAL_MS;
      await rollup.prune();
    },
    intervalMs: dependencies.activity?.flushMs ?? ACTIVITY_FLUSH_MS,
    signal: store.closing,
    onError: (error) => flushFailed({ err: error, pending: rollup.pending }),
  });
  store.beforeClose(() =>
    rollup.flush().catch((error: unknown) => {
      logger.warn({ err: error, pending: rollup.pending }, 'activity counts lost: the last flush failed');
    }),
  );
  return rollup;
}

/** How often the change streams look at the outbox when no notification comes (ms). */
const CHANGE_FEED_POLL_MS = { notify: 5_000, ttl: 1_000 } as const;

/**
 * The change streams' feed: woken by every replica's committed limits changes, polling (every
 * second) where no notification reaches this replica; it ends with the store or the server.
 */
function startChangeFeed(
  store: BillingStore,
  dependencies: BillingAppDependencies,
  hooks: BillingAppHooks,
  telemetry: { logger: Logger; metrics: PrometheusMetrics },
): LimitsChangeFeed {
  const readFailed = throttledWarning(telemetry.logger, 'change stream read failed', 10_000);
  const feed = createLimitsChangeFeed({
    store: store.outbox,
    signal: hooks.streamsClosing ? AbortSignal.any([store.closing, hooks.streamsClosing]) : store.closing,
    pollMs: dependencies.changeStreams?.pollMs ?? CHANGE_FEED_POLL_MS[store.invalidation],
    onError: (error) => readFailed({ err: error }),
  });
  store.subscribe(feed.wake);
  telemetry.metrics.observeChangeStreams(() => feed.subscribers);
  return feed;
}

/**
 * The billing limits service as a Hono app: REST routes derived from the procedures' OpenAPI
 * meta, tRPC at `/trpc`, the Orb webhook, health, metrics and docs. It wires the services once
 * and steps aside: a request passes only the request observer and the route that answers it.
 * No `listen` here: mount it in any Hono or Node server (`src/server.ts` is one).
 *
 * @example
 * const app = createBillingApp({ config: { jwtSecret: process.env.BILLING_JWT_SECRET } });
 * serve({ fetch: app.fetch, port: 8000 });
 */
export function createBillingApp({
  config = {},
  dependencies = {},
  hooks = {},
}: BillingAppOptions = {}): Hono {
  const {
    store,
    logger = defaultLogger(),
    metrics = createPrometheusMetrics(),
    now = Date.now,
  } = dependencies;
  if (!config.disableAuth && !config.jwtSecret) {
    throw new Error(
      'createBillingApp: a worker-token secret (config.jwtSecret) is required unless disableAuth is set',
    );
  }
  const onUnexpectedError = (error: unknown, c?: Context) => {
    if (hooks.onUnexpectedError) hooks.onUnexpectedError(error);
    else logger.error({ err: error, req_id: c && requestIdOf(c) }, 'unexpected error');
  };
  const storeUnavailable = throttledWarning(logger, 'limits store unavailable', 10_000);
  const deadlineMissed = throttledWarning(logger, 'request deadline missed', 10_000);
  const onServerError = (error: unknown, status: number, c: Context) => {
    if (status === 500) onUnexpectedError(error, c);
    // A slow request is not an outage: told apart, so an alert on the store's warning stays true.
    else if (domainErrorOf(error)?.code === 'deadline_exceeded') {
      deadlineMissed({ req_id: requestIdOf(c), status });
    } else storeUnavailable({ err: error, req_id: requestIdOf(c), status });
  };
  const warn = hooks.warn ?? ((message, fields) => logger.warn(fields, message));

  const staleMaxMs = config.staleMaxMs ?? 900_000;
  // Whether the store answers: the limits reads and readiness report to it; readiness and the gauges read it.
  const storeHealth = store && createStoreHealth({ now });
  const storeReadiness =
    store &&
    storeHealth &&
    createStoreReadiness({
      store,
      health: storeHealth,
      now,
      staleMaxMs,
      timeoutMs: readinessTimeoutOf(config.storeTimeoutMs ?? 2_000),
    });
  if (storeHealth) metrics.observeStore(() => storeHealth.state());
  // Asked once now, so that readiness and the gauges know the store before the first probe comes.
  void storeReadiness?.();
  const limits = createLimitsSource({
    mode: config.planSource ?? (store ? 'database' : 'header'),
    store: store?.tenants,
    catalog: dependencies.catalog,
    cacheTtlMs: config.cacheTtlMs,
    cacheMaxEntries: config.cacheMaxEntries,
    storeTimeoutMs: config.storeTimeoutMs,
    staleMaxMs,
    storeHealth,
    now,
    onCacheEvent(event) {
      metrics.cacheEvent(event);
      hooks.onCacheEvent?.(event);
    },
  });
  // Other replicas' writes arrive through the store; this replica's own are applied as they commit.
  const apply = limits.apply;
  store?.subscribe(apply);
  if (store) metrics.invalidationMode(store.invalidation);
  const bearer = (
    kind: TokenKind,
    secret: string,
    token: {
      audience: string;
      requiredVersion?: string;
      requiredClaims?: readonly string[];
      cacheSize: number;
    },
  ) => {
    const verify = createTokenVerifier({
      secret,
      ...token,
      clockToleranceSeconds: config.clockToleranceSeconds ?? 0,
      now,
      onCheck: (result) => metrics.tokenCheck({ token: kind, result }),
    });
    return (authorization: string | undefined) => verify(bearerTokenFrom(authorization));
  };
  const activity = store && startActivityRollup(store, dependencies, { logger, now });
  const usage: UsageService | undefined =
    store &&
    createUsageService(store.usage, {
      catalog: store.tenants,
      onViolation: (violation) => metrics.limitViolation(violation),
      onLeaseExpired(lease) {
        metrics.reservationExpired(lease);
        logger.info(
          {
            tenant_id: lease.tenantId,
            resource: lease.resource,
            quantity: lease.quantity,
            reservation_id: lease.reservationId,
          },
          'reservation lease expired',
        );
      },
      onCheck: (result) => metrics.preflightCheck(result),
      onActivity: activity && ((tenantId, resource, kind) => activity.record(tenantId, resource, kind)),
    });
  const services: BillingServices = {
    authenticateWorker: config.disableAuth
      ? async () => AUTH_DISABLED
      : bearer('worker', config.jwtSecret ?? '', {
          audience: WORKER_AUDIENCE,
          requiredVersion: WORKER_TOKEN_VERSION,
          cacheSize: config.tokenCacheSize ?? 10_000,
        }),
    authenticateAdmin: config.adminSecret
      ? bearer('admin', config.adminSecret, {
          audience: ADMIN_AUDIENCE,
          requiredClaims: ADMIN_REQUIRED_CLAIMS,
          cacheSize: 1_000,
        })
      : undefined,
    limits,
    recordLimitCheck: (plan, status) =>
      metrics.limitCheck({ plan, source: limits.mode, outcome: limitCheckOutcomeOf(status) }),
    administration: store && createAdministration(store.tenants, apply),
    webhookEvents: store?.webhooks,
    webhookEndpoints: store && startOutboundWebhooks(store, config, dependencies, { logger, metrics, warn }),
    limitsChanges: store && startChangeFeed(store, dependencies, hooks, { logger, metrics }),
    usage,
    activity,
    entitlements:
      store &&
      createEntitlementsService(store.usage, {
        storeTimeoutMs: config.storeTimeoutMs,
        staleMaxMs,
        maxEntries: config.cacheMaxEntries,
        now,
      }),
  };
  if (usage && store && (config.leaseSweepMs ?? 1_000) > 0) {
    const sweepFailed = throttledWarning(logger, 'lease sweep failed', 10_000);
    startPeriodicTask({
      run: () => usage.expireLeases(),
      intervalMs: config.leaseSweepMs ?? 1_000,
      signal: store.closing,
      onError: (error) => sweepFailed({ err: error }),
    });
  }
  const edge = {
    createContext: (c: Context) => ({
      authorization: firstHeaderValue(c, 'authorization'),
      deadline: deadlineOf(c),
      services,
    }),
    onServerError,
  };

  const app = new Hono();
  const routes = observedRoutes(app, {
    logger,
    metrics,
    tracer: dependencies.tracer,
    requestTimeoutMs: config.requestTimeoutMs ?? 10_000,
    onError: internalServerError(onUnexpectedError),
  });
  mountRestRoutes(routes, edge);
  mountLimitsChangesRoute(routes, edge, { heartbeatMs: dependencies.changeStreams?.heartbeatMs });
  if (config.orbWebhookSecret) {
    if (!store) throw new Error('createBillingApp: the Orb webhook needs a store');
    mountOrbWebhook(routes, {
      secret: config.orbWebhookSecret,
      handle: createOrbEventHandler({
        store: store.webhooks,
        apply,
        defaultPlan: config.orbDefaultPlan ?? 'free',
        warn,
      }),
      onRefused: (reason) => warn('orb webhook refused', { reason }),
      onDelivery: (delivery) => metrics.webhookEvent(delivery),
      onServerError,
      now,
    });
  }
  mountTrpcEndpoint(routes, edge);
  mountHealthRoutes(routes, { storeReadiness, isShuttingDown: hooks.isShuttingDown ?? (() => false) });
  // With a port of their own (`BILLING_METRICS_PORT`), metrics are not served on the API's.
  if (config.metricsPort === undefined) routes.on('GET', '/metrics', metricsRoute(metrics));
  mountDocsRoutes(routes);
  // The operator console: only where the admin API is on (an admin secret and a store).
  if (config.adminSecret && store && services.administration && services.authenticateAdmin) {
    mountConsole(routes, {
      adminSecret: config.adminSecret,
      services,
      sessions: store.consoleSessions,
      now,
    });
  }
  mountFallback(routes);
  // Errors outside every handler (none expected) still get the same 500.
  app.onError(internalServerError(onUnexpectedError));
  return app;
}
