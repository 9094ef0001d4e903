import { z } from 'zod';
import { NearLimit } from '../../contract/usage.js';
import { usageServiceOf } from '../billing/usage-service.js';
import { adminProcedure } from '../trpc.js';
import { adminErrorResponses } from './views.js';

export const listNearLimits = adminProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/admin/near-limits',
      operationId: 'listNearLimits',
      summary: 'Tenants near or past a limit: usage at or above `min_percent` of a finite limit',
      description:
        'Every tenant × resource whose usage is at least `min_percent` % of its effective limit (its ' +
        "override, else its plan's; unlimited ones never), and any usage of a limit of 0; the most used " +
        '(used ÷ limit) first — past a limit of 0 before all — then by `tenant_id`. At most `limit`.',
      tags: ['admin'],
      errorResponses: adminErrorResponses('Admin API off'),
    },
    admin: true,
  })
  .input(
    z.object({
      min_percent: z.coerce.number().int().min(1).max(1000).default(80),
      limit: z.coerce.number().int().min(1).max(100).default(20),
    }),
  )
  .output(z.object({ tenants: z.array(NearLimit) }))
  .query(async ({ input, ctx }) => ({
    tenants: await usageServiceOf(ctx).nearLimits({ minPercent: input.min_percent, limit: input.limit }),
  }));
