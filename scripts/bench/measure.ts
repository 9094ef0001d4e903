import autocannon from 'autocannon';
import { percentile } from './numbers.js';
import type { BenchRequest } from './targets.js';

export interface LoadOptions {
  url: string;
  request: BenchRequest;
  /** Every 2xx body must pass this; a body that doesn't counts as an error (a mismatch). */
  isCorrectBody?: ((body: string) => boolean) | undefined;
  connections: number;
  durationSeconds: number;
  pipelining: number;
}

export interface LoadResult {
  requests: number;
  requestsPerSecond: number;
  /** Latencies of 2xx answers in milliseconds, to the microsecond. */
  p50Ms: number;
  p99Ms: number;
  /** Socket errors (timeouts included), non-2xx answers and wrong bodies, together. */
  errors: number;
  socketErrors: number;
  non2xx: number;
  mismatches: number;
}

/** One autocannon run against a served target, in this process (so the machine's cores are shared). */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { request, isCorrectBody } = options;
  // autocannon's own histogram keeps whole milliseconds; at a p99 of ~8 ms that is a 12 % step in
  // the p99 ratio, so the latencies are kept here as well, unrounded.
  const latencies: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${options.url}${request.path}`,
        method: request.method ?? 'GET',
        connections: options.connections,
        duration: options.durationSeconds,
        pipelining: options.pipelining,
        headers: request.headers,
        ...(request.body === undefined ? {} : { body: request.body }),
        ...(request.sequence ? { requests: request.sequence } : {}),
        ...(isCorrectBody ? { verifyBody: (body) => typeof body === 'string' && isCorrectBody(body) } : {}),
      },
      (error, result) => {
        if (error) return reject(error);
        const sorted = Float64Array.from(latencies).sort();
        resolve({
          requests: result.requests.total,
          requestsPerSecond: result.requests.average,
          p50Ms: Number(percentile(sorted, 0.5).toFixed(3)),
          p99Ms: Number(percentile(sorted, 0.99).toFixed(3)),
          // autocannon already counts its timeouts among its errors.
          errors: result.errors + result.non2xx + result.mismatches,
          socketErrors: result.errors,
          non2xx: result.non2xx,
          mismatches: result.mismatches,
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
}
