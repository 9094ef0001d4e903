import type { PrometheusMetrics } from '../telemetry/metrics.js';
import type { RouteHandler } from './request-observer.js';

/** `GET /metrics`: the current values in Prometheus's text format — on the API port or a port of its own. */
export function metricsRoute(metrics: PrometheusMetrics): RouteHandler {
  return async (c) => c.body(await metrics.scrape(), 200, { 'Content-Type': metrics.contentType });
}
