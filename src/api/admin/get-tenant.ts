import { TenantPathInput, TenantView } from '../../contract/admin.js';
import { adminProcedure } from '../trpc.js';
import { adminErrorResponses, tenantView } from './views.js';

export const getTenant = adminProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/admin/tenants/{tenantId}',
      operationId: 'getTenant',
      summary: "A tenant's plan, overrides and effective limits",
      tags: ['admin'],
      errorResponses: adminErrorResponses('Tenant not found'),
    },
    admin: true,
  })
  .input(TenantPathInput)
  .output(TenantView)
  .query(async ({ input, ctx }) => tenantView(await ctx.administration.showTenant(input.tenantId)));
