import { type Attributes, type Meter, ValueType } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type GaugeMetricData,
  MeterProvider,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { TOKEN_CHECK_RESULTS, type TokenCheckResult } from '../auth/token-verifier.js';
import { CHECK_REASONS, type CheckReason } from '../contract/entitlements.js';
import { EVENT_TYPES } from '../contract/outbound-webhooks.js';
import { PLAN_TYPES } from '../contract/plans.js';
import { Resource } from '../contract/usage.js';
import { WEBHOOK_OUTCOMES } from '../contract/webhooks.js';
import { PLAN_SOURCES } from '../domain/limits/limits-source.js';
import { CACHE_EVENTS, type CacheEvent } from '../domain/limits/read-through-cache.js';
import { DELIVERY_OUTCOMES, type DeliveryOutcome } from '../domain/outbox/dispatcher.js';
import { type LimitViolation, VIOLATION_KINDS } from '../domain/usage/usage.js';
import { END_EVENT, PLAN_EVENT_TYPES } from '../domain/webhooks/orb-events.js';
import { createRequestDurations, hrTimeOf } from './request-durations.js';

/** What became of one `billing.limits` call (REST or tRPC). */
export const LIMIT_CHECK_OUTCOMES = [
  'ok',
  'not_found',
  'unauthorized',
  'invalid',
  'unavailable',
  'error',
] as const;
export type LimitCheckOutcome = (typeof LIMIT_CHECK_OUTCOMES)[number];

/** Which secret a token is checked against: the Engine's worker tokens or operators' admin tokens. */
export const TOKEN_KINDS = ['worker', 'admin'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

/** The `plan` of a limit check that answered no plan (refused, invalid, not found, failed). */
export const NO_PLAN = 'none';

/**
 * How one delivery to `POST /webhooks/orb` ended: its receipt's outcome, or why it had none —
 * `refused` unread (400), the store `unavailable` (503), an `error` (500).
 */
export const WEBHOOK_DELIVERY_OUTCOMES = [...WEBHOOK_OUTCOMES, 'refused', 'unavailable', 'error'] as const;
export type WebhookDeliveryOutcome = (typeof WEBHOOK_DELIVERY_OUTCOMES)[number];

/** The `type` of a delivery refused before its body was read as an event. */
export const UNREAD_EVENT_TYPE = 'unknown';

/** The event types that can change a plan, hence known before any delivery; others come as Orb sends them. */
const PLAN_CHANGING_EVENT_TYPES = [...PLAN_EVENT_TYPES, END_EVENT] as const;

/**
 * How cached limits learn of a change: `notify` = the store's change notifications evict them at once,
 * `ttl` = they expire (no notifications reach this process).
 */
export const INVALIDATION_MODES = ['notify', 'ttl'] as const;
export type InvalidationMode = (typeof INVALIDATION_MODES)[number];

/**
 * The series exported from the first scrape, at 0, before anything is counted: `increase()` sees
 * the first event, and an absent series means "not scraped", never "nothing yet". Every
 * combination of what is known in advance; an event type Orb adds appears when first delivered.
 */
const DECLARED_SERIES = {
  limitChecks: everyCombination({
    plan: [...PLAN_TYPES, NO_PLAN],
    source: PLAN_SOURCES,
    outcome: LIMIT_CHECK_OUTCOMES,
  }),
  limitViolations: everyCombination({ resource: Resource.options, plan: PLAN_TYPES, kind: VIOLATION_KINDS }),
  reservationsExpired: everyCombination({ resource: Resource.options }),
  preflightChecks: everyCombination({ resource: Resource.options, reason: CHECK_REASONS }),
  tokenChecks: everyCombination({ token: TOKEN_KINDS, result: TOKEN_CHECK_RESULTS }),
  webhookDeliveries: everyCombination({ event_type: EVENT_TYPES, outcome: DELIVERY_OUTCOMES }),
  webhookEvents: [
    ...everyCombination({
      type: PLAN_CHANGING_EVENT_TYPES,
      outcome: WEBHOOK_DELIVERY_OUTCOMES.filter((outcome) => outcome !== 'refused'),
    }),
    // Refused deliveries were never read, so they have no other type.
    { type: UNREAD_EVENT_TYPE, outcome: 'refused' },
  ],
};

/** The service's metrics, as the app records them; no OpenTelemetry type leaks past this interface. */
export interface BillingMetrics {
  /** `billing_limit_checks_total{plan,source,outcome}`; `plan` is `none` when no answer was given. */
  limitCheck(labels: { plan: string; source: string; outcome: LimitCheckOutcome }): void;
  /** `billing_limit_violations_total{resource,plan,kind}`: hard = refused, soft = granted into overage. */
  limitViolation(labels: { resource: string; plan: string; kind: LimitViolation['kind'] }): void;
  /** `billing_reservations_expired_total{resource}`: a lease released because it ran out. */
  reservationExpired(labels: { resource: string }): void;
  /** `billing_preflight_checks_total{resource,reason}`: one per entry of `POST /billing/checks`. */
  preflightCheck(labels: { resource: string; reason: CheckReason }): void;
  /**
   * `billing_token_checks_total{token,result}`: a bearer token accepted from the verified-token
   * cache (`cached`), verified now (`verified`) or refused; a missing or malformed header is no check.
   */
  tokenCheck(labels: { token: TokenKind; result: TokenCheckResult }): void;
  /** `billing_cache_events_total{result}`. */
  cacheEvent(result: CacheEvent): void;
  /** `billing_webhook_events_total{type,outcome}`; `type` is `unknown` when the delivery was refused unread. */
  webhookEvent(labels: { type: string; outcome: string }): void;
  /** `billing_webhook_deliveries_total{event_type,outcome}`: outbound attempts — delivered, retried (failed, to be tried again) or failed (given up). */
  webhookDelivery(labels: { event_type: string; outcome: DeliveryOutcome }): void;
  /**
   * `billing_webhook_outbox_pending`: outbound deliveries not yet delivered or given up, as `read`
   * last counted them (the dispatcher counts when it has nothing to send). No series until called.
   */
  observeOutbox(read: () => number): void;
  /** `billing_limits_change_streams`: change streams open on this replica, read at each scrape. No series until called. */
  observeChangeStreams(read: () => number): void;
  /**
   * `billing_store_up` (1 while the store answers, 0 during an outage) and
   * `billing_store_unreachable_seconds` (how long the current outage has lasted; 0 when up), both
   * from one call of `read` at each scrape (a throw fails the scrape). Called once, by an app that
   * has a store; without one the families are declared with no series, since a 0 would read as
   * "the store is down".
   * @example metrics.observeStore(() => storeHealth.state())
   */
  observeStore(read: () => { up: boolean; unreachableSeconds: number }): void;
  /**
   * `billing_invalidation_mode{mode}`: 1 for the cache invalidation mode in force, 0 for the
   * other. No series until the first call; the last call wins.
   * @example metrics.invalidationMode('notify')
   */
  invalidationMode(mode: InvalidationMode): void;
  /** `http.server.request.duration` (seconds), with the semantic conventions' attributes. */
  httpRequest(
    labels: { method: string; route: string | undefined; status: number; scheme: string },
    seconds: number,
  ): void;
}

/** Metrics that can be scraped: Prometheus's text format, collected on demand. */
export interface PrometheusMetrics extends BillingMetrics {
  readonly contentType: string;
  /** The current values in Prometheus's text exposition format. */
  scrape(): Promise<string>;
  shutdown(): Promise<void>;
}

/** Methods outside this set are reported as `_OTHER`, as the conventions ask (unbounded label values otherwise). */
const KNOWN_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
  'CONNECT',
  'TRACE',
]);

export interface PrometheusMetricsOptions {
  /** `service.name` of the resource (`target_info`); default `billing-limits-service`. */
  serviceName?: string;
}

/**
 * The OpenTelemetry metrics SDK with a Prometheus reader that collects when scraped. Each call
 * builds its own meter provider (nothing global), so several apps in one process don't mix.
 */
export function createPrometheusMetrics(options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  const durations = createRequestDurations('Duration of HTTP server requests.');
  let readStore: (() => { up: boolean; unreachableSeconds: number }) | undefined;
  let modeInForce: InvalidationMode | undefined;
  let readOutbox: (() => number) | undefined;
  let readChangeStreams: (() => number) | undefined;
  const gauges = gaugeProducer(() => {
    const store = readStore?.();
    return [
      {
        name: 'billing_store_up',
        description: 'Whether the store answers (1) or not (0)',
        points: store ? [{ attributes: {}, value: store.up ? 1 : 0 }] : [],
      },
      {
        name: 'billing_store_unreachable_seconds',
        description: 'Seconds since the current store outage began; 0 while the store answers',
        unit: 's',
        points: store ? [{ attributes: {}, value: store.unreachableSeconds }] : [],
      },
      {
        name: 'billing_invalidation_mode',
        description:
          'How cached limits learn of changes, 1 for the mode in force: notify = the store notifies them, ttl = they expire',
        points: modeInForce
          ? INVALIDATION_MODES.map((mode) => ({ attributes: { mode }, value: mode === modeInForce ? 1 : 0 }))
          : [],
      },
      {
        name: 'billing_webhook_outbox_pending',
        description: 'Outbound webhook deliveries pending (not yet delivered or given up), as last counted',
        points: readOutbox ? [{ attributes: {}, value: readOutbox() }] : [],
      },
      {
        name: 'billing_limits_change_streams',
        description:
          'Change streams (GET /billing/limits/changes, billing.limitsChanges) open on this replica',
        points: readChangeStreams ? [{ attributes: {}, value: readChangeStreams() }] : [],
      },
    ];
  });
  const exporter = new PrometheusExporter({
    preventServerStart: true,
    metricProducers: [durations.producer, gauges],
  });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: options.serviceName ?? 'billing-limits-service',
    }),
    readers: [exporter],
  });
  // Without the `otel_scope_*` labels on every series: this service has one meter.
  const serializer = new PrometheusSerializer(undefined, undefined, undefined, false, true);
  const meter = provider.getMeter('billing-limits-service');

  // The Prometheus exporter appends `_total` to counters.
  const [countLimitCheck, zeroLimitChecks] = countedSeries(meter, 'billing_limit_checks', {
    description:
      'GET /billing/limits and tRPC billing.limits calls, by plan answered, plan source and outcome',
  });
  const [countViolation, zeroViolations] = countedSeries(meter, 'billing_limit_violations', {
    description: 'Reservations refused at a hard limit (hard) or granted past a soft one (soft)',
  });
  const [countExpired, zeroExpired] = countedSeries(meter, 'billing_reservations_expired', {
    description: 'Leased reservations released because their lease ran out, by resource',
  });
  const [countPreflight, zeroPreflight] = countedSeries(meter, 'billing_preflight_checks', {
    description: 'Preflight checks (POST /billing/checks entries), by resource and reason',
  });
  const [countTokenCheck, zeroTokenChecks] = countedSeries(meter, 'billing_token_checks', {
    description:
      'Bearer tokens checked, by kind and result (cached = accepted from the verified-token cache)',
  });
  const [countCacheEvent, zeroCacheEvents] = countedSeries(meter, 'billing_cache_events', {
    description:
      'Limits cache lookups (hit, miss, stale = served past its TTL because the store failed) and invalidations',
  });
  const [countWebhookEvent, zeroWebhookEvents] = countedSeries(meter, 'billing_webhook_events', {
    description: 'Orb webhook deliveries by event type and outcome',
  });

  const [countWebhookDelivery, zeroWebhookDeliveries] = countedSeries(meter, 'billing_webhook_deliveries', {
    description: 'Outbound webhook attempts by event type and outcome (retried = failed, to be tried again)',
  });

  const metrics: PrometheusMetrics = {
    contentType: 'text/plain; version=0.0.4; charset=utf-8',
    limitCheck: ({ plan, source, outcome }) =>
      countLimitCheck(`${plan}|${source}|${outcome}`, () => ({ plan, source, outcome })),
    limitViolation: ({ resource, plan, kind }) =>
      countViolation(`${resource}|${plan}|${kind}`, () => ({ resource, plan, kind })),
    reservationExpired: ({ resource }) => countExpired(resource, () => ({ resource })),
    preflightCheck: ({ resource, reason }) =>
      countPreflight(`${resource}|${reason}`, () => ({ resource, reason })),
    tokenCheck: ({ token, result }) => countTokenCheck(`${token}|${result}`, () => ({ token, result })),
    cacheEvent: (result) => countCacheEvent(result, () => ({ result })),
    webhookEvent: ({ type, outcome }) => countWebhookEvent(`${type}|${outcome}`, () => ({ type, outcome })),
    webhookDelivery: ({ event_type, outcome }) =>
      countWebhookDelivery(`${event_type}|${outcome}`, () => ({ event_type, outcome })),
    observeStore(read) {
      readStore = read;
    },
    observeOutbox(read) {
      readOutbox = read;
    },
    observeChangeStreams(read) {
      readChangeStreams = read;
    },
    invalidationMode(mode) {
      modeInForce = mode;
    },
    httpRequest({ method, route, status, scheme }, seconds) {
      durations.record(KNOWN_METHODS.has(method) ? method : '_OTHER', route, status, scheme, seconds);
    },
    async scrape() {
      const { resourceMetrics, errors } = await exporter.collect();
      if (errors.length > 0) throw new AggregateError(errors, 'metrics collection failed');
      return serializer.serialize(resourceMetrics);
    },
    shutdown: () => provider.shutdown(),
  };

  // Declared through the recording methods themselves, so a declared series has the very key a
  // recorded one gets (never a second series beside it), then set back to 0.
  for (const labels of DECLARED_SERIES.limitChecks) metrics.limitCheck(labels);
  for (const labels of DECLARED_SERIES.limitViolations) metrics.limitViolation(labels);
  for (const labels of DECLARED_SERIES.reservationsExpired) metrics.reservationExpired(labels);
  for (const labels of DECLARED_SERIES.preflightChecks) metrics.preflightCheck(labels);
  for (const labels of DECLARED_SERIES.tokenChecks) metrics.tokenCheck(labels);
  for (const result of CACHE_EVENTS) metrics.cacheEvent(result);
  for (const labels of DECLARED_SERIES.webhookEvents) metrics.webhookEvent(labels);
  for (const labels of DECLARED_SERIES.webhookDeliveries) metrics.webhookDelivery(labels);
  for (const zero of [
    zeroLimitChecks,
    zeroViolations,
    zeroExpired,
    zeroPreflight,
    zeroTokenChecks,
    zeroCacheEvents,
    zeroWebhookEvents,
    zeroWebhookDeliveries,
  ]) {
    zero();
  }
  return metrics;
}

/**
 * A counter whose series are counted here and handed to OpenTelemetry when it collects (an
 * observable counter): the SDK's own `Counter#add` sorts and hashes the attributes on every call,
 * which measured a tenth of a cached limit check's CPU. `key` must identify the label values.
 * Returns the counting function and one that sets every series counted so far back to 0.
 */
function countedSeries(
  meter: Meter,
  name: string,
  options: { description: string },
): [count: (key: string, labels: () => Attributes) => void, zero: () => void] {
  const series = new Map<string, { labels: Attributes; count: number }>();
  meter.createObservableCounter(name, options).addCallback((result) => {
    for (const { labels, count } of series.values()) result.observe(count, labels);
  });
  const count = (key: string, labels: () => Attributes) => {
    const entry = series.get(key);
    if (entry) entry.count++;
    else series.set(key, { labels: labels(), count: 1 });
  };
  const zero = () => {
    for (const entry of series.values()) entry.count = 0;
  };
  return [count, zero];
}

/** Gauges as the reader collects them: a family with no value to report yet is still exported. */
interface GaugeFamily {
  name: string;
  description: string;
  unit?: string;
  points: readonly { attributes: Attributes; value: number }[];
}

/**
 * Gauges handed to the reader as a metric producer, `read` once per collection. The SDK's own
 * observable gauges leave a family out of the scrape until it has a value; these are declared
 * (HELP and TYPE) from the first scrape, with their series once there is something to say.
 */
function gaugeProducer(read: () => readonly GaugeFamily[]): MetricProducer {
  return {
    async collect() {
      const time = hrTimeOf(Date.now());
      const metrics = read().map(
        ({ name, description, unit = '', points }): GaugeMetricData => ({
          descriptor: { name, description, unit, valueType: ValueType.DOUBLE },
          aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPointType: DataPointType.GAUGE,
          dataPoints: points.map(({ attributes, value }) => ({
            attributes,
            startTime: time,
            endTime: time,
            value,
          })),
        }),
      );
      return {
        // The reader keeps the SDK's resource; a producer's own is not used.
        resourceMetrics: {
          resource: resourceFromAttributes({}),
          scopeMetrics: [{ scope: { name: 'billing-limits-service' }, metrics }],
        },
        errors: [],
      };
    },
  };
}

/** Every combination of one value per label: `{ a: ['1', '2'], b: ['x'] }` → `[{ a: '1', b: 'x' }, { a: '2', b: 'x' }]`. */
function everyCombination<const Values extends Record<string, readonly string[]>>(
  values: Values,
): { [Label in keyof Values]: Values[Label][number] }[] {
  let combinations: Record<string, string>[] = [{}];
  for (const [label, options] of Object.entries(values)) {
    combinations = combinations.flatMap((combination) =>
      options.map((value) => ({ ...combination, [label]: value })),
    );
  }
  return combinations as { [Label in keyof Values]: Values[Label][number] }[];
}

/** The limit-check outcome of an HTTP status (the same on REST and tRPC). */
export function limitCheckOutcomeOf(status: number): LimitCheckOutcome {
  if (status < 300) return 'ok';
  if (status === 401) return 'unauthorized';
  if (status === 404) return 'not_found';
  if (status === 400 || status === 422) return 'invalid';
  if (status === 503) return 'unavailable';
  return 'error';
}
