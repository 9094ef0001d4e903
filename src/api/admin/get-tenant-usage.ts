import { TenantPathInput } from '../../contract/admin.js';
import { TenantUsage } from '../../contract/usage.js';
import { usageServiceOf } from '../billing/usage-service.js';
import { adminProcedure } from '../trpc.js';
import { adminErrorResponses } from './views.js';

/** As many of its active reservations as the admin's view shows. */
const RESERVATIONS_SHOWN = 100;

export const getTenantUsage = adminProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/admin/tenants/{tenantId}/usage',
      operationId: 'getTenantUsage',
      summary: "A tenant's usage against its limits, and its active reservations and leases",
      description:
        '`usage` is what `GET /billing/usage` answers the tenant; `reservations` its active reservations ' +
        'and leases, newest first, at most 100 (`GET /billing/reservations` pages through them all).',
      tags: ['admin'],
      errorResponses: adminErrorResponses('Tenant not found'),
    },
    admin: true,
  })
  .input(TenantPathInput)
  .output(TenantUsage)
  .query(async ({ input, ctx }) => {
    const usage = usageServiceOf(ctx);
    // The same reads as the Engine's routes; each answers 404 for an unknown tenant.
    const [current, active] = await Promise.all([
      usage.usage(input.tenantId),
      usage.list(input.tenantId, { state: 'active', limit: RESERVATIONS_SHOWN }),
    ]);
    return { usage: current, reservations: active.reservations };
  });
