import { AggregationTemporality, DataPointType, type Histogram } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import {
  createRequestDurations,
  HTTP_DURATION_BUCKETS,
  hrTimeOf,
} from '../../src/telemetry/request-durations.js';

/** What the reader would get from the producer now: the one metric, and its data points. */
async function collected(durations: ReturnType<typeof createRequestDurations>) {
  const { resourceMetrics, errors } = await durations.producer.collect();
  expect(errors).toEqual([]);
  expect(resourceMetrics.scopeMetrics).toHaveLength(1);
  const [scope] = resourceMetrics.scopeMetrics;
  expect(scope?.scope).toEqual({ name: 'billing-limits-service' });
  expect(scope?.metrics).toHaveLength(1);
  const metric = scope?.metrics[0];
  if (metric?.dataPointType !== DataPointType.HISTOGRAM) throw new Error('not a histogram');
  return metric;
}

const histogramOf = (point: { value: unknown } | undefined) => point?.value as Histogram;

describe('http.server.request.duration counted per series', () => {
  it('declares the metric, cumulative and in seconds, before the first request, with no series', async () => {
    const metric = await collected(createRequestDurations('Duration of HTTP server requests.'));
    expect(metric.descriptor).toMatchObject({
      name: 'http.server.request.duration',
      description: 'Duration of HTTP server requests.',
      unit: 's',
    });
    expect(metric.aggregationTemporality).toBe(AggregationTemporality.CUMULATIVE);
    expect(metric.dataPoints).toEqual([]);
  });

  it('puts a duration on a boundary in that bucket, just above it in the next, past the last in the overflow', async () => {
    const durations = createRequestDurations('d');
    for (const seconds of [0.005, 0.0051, 0.1, 10, 10.5, 0])
      durations.record('GET', '/r', 200, 'http', seconds);
    const value = histogramOf((await collected(durations)).dataPoints[0]);
    expect(value.buckets.boundaries).toEqual(HTTP_DURATION_BUCKETS);
    const expected = new Array<number>(HTTP_DURATION_BUCKETS.length + 1).fill(0);
    expected[0] = 2; // 0 and 0.005
    expected[1] = 1; // 0.0051
    expected[HTTP_DURATION_BUCKETS.indexOf(0.1)] = 1;
    expected[HTTP_DURATION_BUCKETS.indexOf(10)] = 1;
    expected[HTTP_DURATION_BUCKETS.length] = 1; // 10.5
    expect(value.buckets.counts).toEqual(expected);
    expect(value).toMatchObject({ count: 6, min: 0, max: 10.5 });
    expect(value.sum).toBeCloseTo(0.005 + 0.0051 + 0.1 + 10 + 10.5, 10);
  });

  it('keeps min and max in either order of arrival', async () => {
    const durations = createRequestDurations('d');
    for (const seconds of [0.3, 0.02, 0.9, 0.4]) durations.record('GET', '/r', 200, 'http', seconds);
    expect(histogramOf((await collected(durations)).dataPoints[0])).toMatchObject({
      min: 0.02,
      max: 0.9,
      count: 4,
    });
  });

  it('keeps one series per method, route, status and scheme, with the route left out when none matched', async () => {
    const durations = createRequestDurations('d');
    durations.record('GET', '/billing/limits', 200, 'http', 0.001);
    durations.record('GET', '/billing/limits', 200, 'http', 0.002);
    durations.record('GET', '/billing/limits', 401, 'http', 0.001);
    durations.record('POST', '/billing/limits', 200, 'http', 0.001);
    durations.record('GET', '/billing/limits', 200, 'https', 0.001);
    durations.record('GET', undefined, 404, 'http', 0.001);
    const points = (await collected(durations)).dataPoints;
    // Strict: a series without a route has no `http.route` key at all, not one set to undefined.
    expect(points.map((point) => [point.attributes, histogramOf(point).count])).toStrictEqual([
      [
        {
          'http.request.method': 'GET',
          'http.response.status_code': 200,
          'url.scheme': 'http',
          'http.route': '/billing/limits',
        },
        2,
      ],
      [
        {
          'http.request.method': 'GET',
          'http.response.status_code': 401,
          'url.scheme': 'http',
          'http.route': '/billing/limits',
        },
        1,
      ],
      [
        {
          'http.request.method': 'POST',
          'http.response.status_code': 200,
          'url.scheme': 'http',
          'http.route': '/billing/limits',
        },
        1,
      ],
      [
        {
          'http.request.method': 'GET',
          'http.response.status_code': 200,
          'url.scheme': 'https',
          'http.route': '/billing/limits',
        },
        1,
      ],
      [{ 'http.request.method': 'GET', 'http.response.status_code': 404, 'url.scheme': 'http' }, 1],
    ]);
  });

  it('hands the reader a copy of the counts: a later request does not change what was collected', async () => {
    const durations = createRequestDurations('d');
    durations.record('GET', '/r', 200, 'http', 0.001);
    const first = histogramOf((await collected(durations)).dataPoints[0]);
    durations.record('GET', '/r', 200, 'http', 0.001);
    expect(first.buckets.counts[0]).toBe(1);
    expect(histogramOf((await collected(durations)).dataPoints[0]).buckets.counts[0]).toBe(2);
  });

  it('stamps points from when counting started to when they were collected', async () => {
    const before = hrTimeOf(Date.now());
    const durations = createRequestDurations('d');
    durations.record('GET', '/r', 200, 'http', 0.001);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const point = (await collected(durations)).dataPoints[0];
    const ms = ([seconds, nanos]: [number, number]) => seconds * 1000 + nanos / 1e6;
    expect(ms(point?.startTime ?? [0, 0])).toBeGreaterThanOrEqual(ms(before));
    expect(ms(point?.endTime ?? [0, 0]) - ms(point?.startTime ?? [0, 0])).toBeGreaterThanOrEqual(15);
  });
});

describe('hrTimeOf', () => {
  it('splits milliseconds into whole seconds and nanoseconds', () => {
    expect(hrTimeOf(0)).toEqual([0, 0]);
    expect(hrTimeOf(999)).toEqual([0, 999_000_000]);
    expect(hrTimeOf(1_000)).toEqual([1, 0]);
    expect(hrTimeOf(1_500.25)).toEqual([1, 500_250_000]);
    expect(hrTimeOf(1_733_000_000_123)).toEqual([1_733_000_000, 123_000_000]);
  });
});
