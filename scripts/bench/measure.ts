import autocannon from 'autocannon';
import type { BenchRequest } from './targets.js';

export interface LoadOptions {
  url: string;
  request: BenchRequest;
  connections: number;
  durationSeconds: number;
  pipelining: number;
}

export interface LoadResult {
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Socket errors, timeouts and non-2xx answers. */
  errors: number;
}

/** One autocannon run against a served target, in this process (so the machine's cores are shared). */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { request } = options;
  let next = 0;
  const tenants = request.tenants;
  const result = await autocannon({
    url: `${options.url}${request.path}`,
    connections: options.connections,
    duration: options.durationSeconds,
    pipelining: options.pipelining,
    headers: request.headers,
    ...(tenants
      ? {
          requests: [
            {
              setupRequest: (req) => {
                const tenant = tenants[next++ % tenants.length] ?? '';
                return { ...req, headers: { ...req.headers, 'tenant-id': tenant } };
              },
            },
          ],
        }
      : {}),
  });
  return {
    requests: result.requests.total,
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}
