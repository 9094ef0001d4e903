import type { Resource } from '../../contract/usage.js';

/** What is counted per tenant × resource × hour. */
export const ACTIVITY_KINDS = ['grants', 'releases', 'refusals', 'expiries'] as const;
export type ActivityKind = (typeof ACTIVITY_KINDS)[number];
export type ActivityCounts = Record<ActivityKind, number>;

/** One tenant × resource × hour's counts. `hour`: the start of the UTC hour. */
export interface TenantActivity extends ActivityCounts {
  tenantId: string;
  resource: Resource;
  hour: Date;
}

/** One resource × hour's counts, of one tenant or summed over every tenant. */
export interface HourlyActivity extends ActivityCounts {
  resource: Resource;
  hour: Date;
}

/** A tenant × resource's refusals since a time, and the latest hour they were refused in. */
export interface RefusalTotal {
  tenantId: string;
  resource: Resource;
  refusals: number;
  lastHour: Date;
}

/** The hourly activity rollup (`usage_activity_hourly`): every replica adds to it, operators read it. */
export interface ActivityStore {
  /**
   * Adds each entry's counts to what is stored for its tenant × resource × hour, all in one
   * statement (all or none): two replicas adding to the same hour add up.
   */
  add(entries: readonly TenantActivity[]): Promise<void>;
  /**
   * The hours from `from` (inclusive) to `to` (exclusive) with any activity, per resource, of
   * `tenantId` or summed over every tenant when it is undefined; oldest first, then by resource.
   */
  hourly(query: { from: Date; to: Date; tenantId?: string | undefined }): Promise<HourlyActivity[]>;
  /**
   * Tenant × resources refused in the hours from `from` to `to` (exclusive): most refusals first,
   * then the latest, at most `limit`.
   */
  refusals(query: { from: Date; to: Date; limit: number }): Promise<RefusalTotal[]>;
  /** Deletes up to `limit` rows of hours before `before`; the number deleted. */
  prune(before: Date, limit: number): Promise<number>;
}
