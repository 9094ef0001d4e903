import { z } from 'zod';
import { RefusalSummary, RefusalsQuery } from '../../contract/activity.js';
import { adminProcedure } from '../trpc.js';
import { activityOf, refusalSummaryView } from './activity-views.js';
import { adminErrorResponses } from './views.js';

export const listRefusals = adminProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/admin/refusals',
      operationId: 'listRefusals',
      summary: 'The tenants refused most at their limits recently',
      description:
        'Tenant × resources with reservations refused at the limit in the last `hours` UTC hours (the ' +
        'current one included): most refusals first, then the latest, at most `limit`. Counted as for ' +
        '`GET /admin/activity`.',
      tags: ['admin'],
      errorResponses: adminErrorResponses('Admin API off'),
    },
    admin: true,
  })
  .input(RefusalsQuery)
  .output(z.object({ refusals: z.array(RefusalSummary) }))
  .query(async ({ input, ctx }) => {
    const { refusals } = await activityOf(ctx).refusals({ hours: input.hours, limit: input.limit });
    return { refusals: refusals.map(refusalSummaryView) };
  });
