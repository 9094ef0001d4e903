import { TRPCError } from '@trpc/server';
import type { ActivityBucket, RefusalSummary } from '../../contract/activity.js';
import type { HourlyActivity, RefusalTotal } from '../../domain/usage/activity-store.js';
import type { BillingContext, BillingServices } from '../context.js';

export function activityBucketView(bucket: HourlyActivity): ActivityBucket {
  return {
    hour: bucket.hour.toISOString(),
    resource: bucket.resource,
    grants: bucket.grants,
    releases: bucket.releases,
    refusals: bucket.refusals,
    expiries: bucket.expiries,
  };
}

export function refusalSummaryView(total: RefusalTotal): RefusalSummary {
  return {
    tenant_id: total.tenantId,
    resource: total.resource,
    refusals: total.refusals,
    last_hour: total.lastHour.toISOString(),
  };
}

/** The activity rollup, or the admin API's 404 when there is none (no store). */
export function activityOf(ctx: BillingContext): NonNullable<BillingServices['activity']> {
  const activity = ctx.services.activity;
  if (!activity) throw new TRPCError({ code: 'NOT_FOUND', message: 'Not Found' });
  return activity;
}
