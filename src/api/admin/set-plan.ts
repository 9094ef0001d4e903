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
      summary: "Change a plan's limits and its Orb plan id",
      description:
        'Every tenant on the plan gets the new limits at once, on every replica. `null` = unlimited. ' +
        '`orb_external_plan_id` maps an Orb plan to this plan (`null` unmaps it, left out keeps it); an Orb plan ' +
        'id another plan has is a 409 `Orb plan id already mapped to <plan>`, and nothing is written.',
      tags: ['admin'],
      errorResponses: {
        ...adminErrorResponses('Admin API off', { withBody: true }),
        409: 'Orb plan id already mapped to another plan',
      },
    },
    admin: true,
  })
  .input(z.strictObject({ ...PlanPathInput.shape, ...PlanUpdate.shape }))
  .output(PlanView)
  .mutation(({ input: { planId, ...update }, ctx }) => ctx.administration.setPlan(planId, update, ctx.actor));
