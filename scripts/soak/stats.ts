/**
 * Per-route counters for the soak: how many requests, which statuses, and latency quantiles from a
 * log-bucketed histogram (2 % resolution, bounded memory however long the run).
 */

const BASE_MS = 0.01;
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);

export class LatencyHistogram {
  private readonly buckets = new Map<number, number>();
  count = 0;
  maxMs = 0;

  add(ms: number): void {
    const bucket = ms <= BASE_MS ? 0 : Math.ceil(Math.log(ms / BASE_MS) / LOG_GROWTH);
    this.buckets.set(bucket, (this.buckets.get(bucket) ?? 0) + 1);
    this.count += 1;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /** The upper edge of the bucket holding the `fraction` quantile (within 2 % of the true value). */
  quantile(fraction: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(fraction * this.count));
    let seen = 0;
    for (const bucket of [...this.buckets.keys()].sort((a, b) => a - b)) {
      seen += this.buckets.get(bucket) ?? 0;
      if (seen >= rank) return Math.min(this.maxMs, BASE_MS * GROWTH ** bucket);
    }
    return this.maxMs;
  }
}

export interface RouteStats {
  count: number;
  /** Answers by HTTP status; `network` for requests that got no answer. */
  statuses: Map<string, number>;
  latency: LatencyHistogram;
}

export class Stats {
  readonly routes = new Map<string, RouteStats>();

  record(route: string, status: number | 'network', ms: number): void {
    let stats = this.routes.get(route);
    if (!stats) {
      stats = { count: 0, statuses: new Map(), latency: new LatencyHistogram() };
      this.routes.set(route, stats);
    }
    stats.count += 1;
    const key = String(status);
    stats.statuses.set(key, (stats.statuses.get(key) ?? 0) + 1);
    stats.latency.add(ms);
  }

  get total(): number {
    let total = 0;
    for (const route of this.routes.values()) total += route.count;
    return total;
  }
}
