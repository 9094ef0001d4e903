import type { Attributes, Meter } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { createRequestDurations } from './request-durations.js';

/** What became of one `billing.limits` call (REST or tRPC). */
export type LimitCheckOutcome = 'ok' | 'not_found' | 'unauthorized' | 'invalid' | 'unavailable' | 'error';

/** The service's metrics, as the app records them; no OpenTelemetry type leaks past this interface. */
export interface BillingMetrics {
  /** `billing_limit_checks_total{plan,source,outcome}`; `plan` is `none` when no answer was given. */
  limitCheck(labels: { plan: string; source: string; outcome: LimitCheckOutcome }): void;
  /** `billing_limit_violations_total{resource,plan,kind}`: hard = refused, soft = granted into overage. */
  limitViolation(labels: { resource: string; plan: string; kind: 'hard' | 'soft' }): void;
  /** `billing_cache_events_total{result}`. */
  cacheEvent(result: 'hit' | 'miss' | 'stale' | 'invalidated'): void;
  /** `billing_webhook_events_total{type,outcome}`; `type` is `unknown` when the delivery was refused unread. */
  webhookEvent(labels: { type: string; outcome: string }): void;
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
  const exporter = new PrometheusExporter({
    preventServerStart: true,
    metricProducers: [durations.producer],
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
  const limitChecks = countedSeries(meter, 'billing_limit_checks', {
    description:
      'GET /billing/limits and tRPC billing.limits calls, by plan answered, plan source and outcome',
  });
  const violations = countedSeries(meter, 'billing_limit_violations', {
    description: 'Reservations refused at a hard limit (hard) or granted past a soft one (soft)',
  });
  const cacheEvents = countedSeries(meter, 'billing_cache_events', {
    description:
      'Limits cache lookups (hit, miss, stale = served past its TTL because the store failed) and invalidations',
  });
  const webhookEvents = countedSeries(meter, 'billing_webhook_events', {
    description: 'Orb webhook deliveries by event type and outcome',
  });

  return {
    contentType: 'text/plain; version=0.0.4; charset=utf-8',
    limitCheck: ({ plan, source, outcome }) =>
      limitChecks(`${plan}|${source}|${outcome}`, () => ({ plan, source, outcome })),
    limitViolation: ({ resource, plan, kind }) =>
      violations(`${resource}|${plan}|${kind}`, () => ({ resource, plan, kind })),
    cacheEvent: (result) => cacheEvents(result, () => ({ result })),
    webhookEvent: ({ type, outcome }) => webhookEvents(`${type}|${outcome}`, () => ({ type, outcome })),
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
}

/**
 * A counter whose series are counted here and handed to OpenTelemetry when it collects (an
 * observable counter): the SDK's own `Counter#add` sorts and hashes the attributes on every call,
 * which measured a tenth of a cached limit check's CPU. `key` must identify the label values.
 */
function countedSeries(
  meter: Meter,
  name: string,
  options: { description: string },
): (key: string, labels: () => Attributes) => void {
  const series = new Map<string, { labels: Attributes; count: number }>();
  meter.createObservableCounter(name, options).addCallback((result) => {
    for (const { labels, count } of series.values()) result.observe(count, labels);
  });
  return (key, labels) => {
    const entry = series.get(key);
    if (entry) entry.count++;
    else series.set(key, { labels: labels(), count: 1 });
  };
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
