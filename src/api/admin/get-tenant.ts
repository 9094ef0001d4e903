import { TenantPathInput, TenantView } from '../../contract/admin.js';
import { adminProcedure } from '../trpc.js';
import { tenantView } from './views.js';

export const getTenant = adminProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/admin/tenants/{tenantId}',
      operationId: 'getTenant',
      summary: "A tenant's plan, overrides and effective limits",
      tags: ['admin'],
      errorResponses: {
        401: 'Unauthorized',
        404: 'Tenant not found',
        422: 'Validation Error',
        503: 'Store unavailable',
      },
    },
    admin: true,
  })
  .input(TenantPathInput)
  .output(TenantView)
  .query(async ({ input, ctx }) => tenantView(await ctx.administration.showTenant(input.tenantId)));
