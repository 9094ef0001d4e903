import { TenantPathInput, TenantView } from '../../contract/admin.js';
import { adminProcedure } from '../trpc.js';
import { adminErrorResponses, tenantView } from './views.js';

export const clearOverrides = adminProcedure
  .meta({
    openapi: {
      method: 'DELETE',
      path: '/admin/tenants/{tenantId}/overrides',
      operationId: 'clearTenantOverrides',
      summary: "Drop a tenant's overrides: it inherits its plan again",
      tags: ['admin'],
      errorResponses: adminErrorResponses('Tenant not found'),
    },
    admin: true,
  })
  .input(TenantPathInput)
  .output(TenantView)
  .mutation(async ({ input, ctx }) =>
    tenantView(await ctx.administration.clearOverrides(input.tenantId, ctx.actor)),
  );
