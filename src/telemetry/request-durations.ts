import { type Attributes, ValueType } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type MetricProducer,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_SCHEME,
  METRIC_HTTP_SERVER_REQUEST_DURATION,
} from '@opentelemetry/semantic-conventions';

/** The semantic conventions' advice for `http.server.request.duration`, in seconds. */
export const HTTP_DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

interface Series {
  attributes: Attributes;
  /** One count per bucket, and one past the last boundary. */
  counts: number[];
  sum: number;
  count: number;
  min: number;
  max: number;
}

type HrTime = [number, number];
/** OpenTelemetry's `[seconds, nanoseconds]` of a time in milliseconds. */
export const hrTimeOf = (ms: number): HrTime => [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];

/**
 * `http.server.request.duration` as a cumulative histogram counted here, per series, and handed to
 * OpenTelemetry's reader as a metric producer when it collects. The SDK's own `Histogram#record`
 * sorts and JSON-encodes the attributes on every request to find the series (2 µs a request,
 * measured); here a series is found by a key the caller already has.
 */
export function createRequestDurations(description: string) {
  const series = new Map<string, Series>();
  const startTime = hrTimeOf(Date.now());
  const descriptor = {
    name: METRIC_HTTP_SERVER_REQUEST_DURATION,
    description,
    unit: 's',
    valueType: ValueType.DOUBLE,
  };

  const producer: MetricProducer = {
    async collect() {
      const endTime = hrTimeOf(Date.now());
      const resourceMetrics: ResourceMetrics = {
        // The reader keeps the SDK's resource; a producer's own is not used.
        resource: resourceFromAttributes({}),
        scopeMetrics: [
          {
            scope: { name: 'billing-limits-service' },
            // Declared (HELP, TYPE) before the first request too, with no series until then.
            metrics: [
              {
                descriptor,
                aggregationTemporality: AggregationTemporality.CUMULATIVE,
                dataPointType: DataPointType.HISTOGRAM,
                dataPoints: [...series.values()].map((s) => ({
                  attributes: s.attributes,
                  startTime,
                  endTime,
                  value: {
                    buckets: { boundaries: HTTP_DURATION_BUCKETS, counts: [...s.counts] },
                    sum: s.sum,
                    count: s.count,
                    min: s.min,
                    max: s.max,
                  },
                })),
              },
            ],
          },
        ],
      };
      return { resourceMetrics, errors: [] };
    },
  };

  return {
    producer,
    /** Counts one request. `route` is the matched route template: a raw path would make a series per tenant. */
    record(method: string, route: string | undefined, status: number, scheme: string, seconds: number): void {
      const key = `${method} ${route} ${status} ${scheme}`;
      let entry = series.get(key);
      if (!entry) {
        const attributes: Attributes = {
          [ATTR_HTTP_REQUEST_METHOD]: method,
          [ATTR_HTTP_RESPONSE_STATUS_CODE]: status,
          [ATTR_URL_SCHEME]: scheme,
        };
        if (route) attributes[ATTR_HTTP_ROUTE] = route;
        entry = {
          attributes,
          counts: new Array<number>(HTTP_DURATION_BUCKETS.length + 1).fill(0),
          sum: 0,
          count: 0,
          min: Number.POSITIVE_INFINITY,
          max: Number.NEGATIVE_INFINITY,
        };
        series.set(key, entry);
      }
      let bucket = 0;
      while (bucket < HTTP_DURATION_BUCKETS.length && seconds > (HTTP_DURATION_BUCKETS[bucket] ?? 0))
        bucket++;
      entry.counts[bucket] = (entry.counts[bucket] ?? 0) + 1;
      entry.sum += seconds;
      entry.count++;
      if (seconds < entry.min) entry.min = seconds;
      if (seconds > entry.max) entry.max = seconds;
    },
  };
}
