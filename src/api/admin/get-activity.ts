import { Activity, ActivityQuery } from '../../contract/activity.js';
import { adminProcedure } from '../trpc.js';
import { activityBucketView, activityOf } from './activity-views.js';
import { adminErrorResponses } from './views.js';

export const getActivity = adminProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/admin/activity',
      operationId: 'getActivity',
      summary: 'Reservations granted, released, refused and expired per hour, per resource',
      description:
        'The last `hours` UTC hours (the current one included), of one tenant (`tenant_id`) or summed ' +
        'over every tenant; only hours with activity, oldest first. Each replica counts in memory and ' +
        'adds its counts every few seconds: the replica answering shows its own at once, the others ' +
        'theirs after their next flush. A refusal is a reservation refused at the limit (a preflight ' +
        'check that says no is not one); a replayed reservation is not a new grant.',
      tags: ['admin'],
      errorResponses: adminErrorResponses('Admin API off'),
    },
    admin: true,
  })
  .input(ActivityQuery)
  .output(Activity)
  .query(async ({ input, ctx }) => {
    const { from, to, buckets } = await activityOf(ctx).hourly({
      hours: input.hours,
      tenantId: input.tenant_id,
    });
    return { from: from.toISOString(), to: to.toISOString(), buckets: buckets.map(activityBucketView) };
  });
