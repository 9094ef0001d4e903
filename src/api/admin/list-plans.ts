import { z } from 'zod';
import { PlanSummary } from '../../contract/admin.js';
import { adminProcedure } from '../trpc.js';
import { adminErrorResponses } from './views.js';

export const listPlans = adminProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/admin/plans',
      operationId: 'listPlans',
      summary: 'The plan catalog: every plan with its limits, soft limits and how many tenants are on it',
      tags: ['admin'],
      errorResponses: adminErrorResponses('Admin API off'),
    },
    admin: true,
  })
  // Nothing to ask; a tRPC caller may leave the input out.
  .input(z.object({}).optional())
  .output(z.array(PlanSummary))
  .query(({ ctx }) => ctx.administration.planSummaries());
