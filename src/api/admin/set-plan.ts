import { z } from 'zod';
import { PlanPathInput, PlanUpdate, PlanView } from '../../contract/admin.js';
import { adminProcedure } from '../trpc.js';
import { adminErrorResponses } from './views.js';

export const setPlan = adminProcedure
  .meta({
    openapi: {
      method: 'PUT',
      path: '/admin/plans/{planId}',
      operationId: 'setPlanLimits',
      summary: "Change a plan's limits",
      description:
        'Every tenant on the plan gets the new limits at once, on every replica. `null` = unlimited.',
      tags: ['admin'],
      errorResponses: adminErrorResponses('Admin API off', { withBody: true }),
    },
    admin: true,
  })
  .input(z.strictObject({ ...PlanPathInput.shape, ...PlanUpdate.shape }))
  .output(PlanView)
  .mutation(({ input: { planId, ...update }, ctx }) => ctx.administration.setPlan(planId, update, ctx.actor));
