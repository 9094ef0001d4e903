import { z } from 'zod';
import { TenantPathInput, TenantUpdate, TenantView } from '../../contract/admin.js';
import { adminProcedure } from '../trpc.js';
import { adminErrorResponses, tenantView } from './views.js';

export const putTenant = adminProcedure
  .meta({
    openapi: {
      method: 'PUT',
      path: '/admin/tenants/{tenantId}',
      operationId: 'putTenant',
      summary: 'Create or update a tenant and its customer',
      description:
        'Fields left out keep their current value. A new tenant defaults to a customer of its own id; a new ' +
        'customer needs `plan_id`. Several organizations may share one customer, and so its plan. `overrides` ' +
        'replaces all overrides: a key left out inherits the plan, `null` is unlimited.',
      tags: ['admin'],
      errorResponses: adminErrorResponses('Admin API off', { withBody: true }),
    },
    admin: true,
  })
  .input(z.strictObject({ ...TenantPathInput.shape, ...TenantUpdate.shape }))
  .output(TenantView)
  .mutation(async ({ input: { tenantId, ...update }, ctx }) =>
    tenantView(await ctx.administration.putTenant(tenantId, update, ctx.actor)),
  );
