import { EntitlementsResponse } from '../../contract/entitlements.js';
import { TENANT_HEADER, TenantInput } from '../../contract/usage.js';
import { headerParameters } from '../header-input.js';
import { workerProcedure } from '../trpc.js';
import { entitlementsServiceOf, usageErrorResponses } from './usage-service.js';

export const entitlements = workerProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/billing/entitlements',
      operationId: 'getBillingEntitlements',
      summary: 'Every limit of the tenant, where it comes from, and what holds it',
      description:
        'Each resource’s effective limit with its source (`plan` or `override`), the plan’s limit, the override, ' +
        'the soft-limit policy in force, current usage, and the unreleased reservations (with the quantity held ' +
        'by leases). Read from the store on every call; when the store is unreachable, the last answer read ' +
        '(within `BILLING_STALE_MAX_MS`) with `stale: true`.',
      tags: ['usage'],
      requestHeaders: headerParameters(TenantInput, TENANT_HEADER),
      errorResponses: usageErrorResponses({ 503: 'Store unavailable and no recent answer known' }),
    },
    inputHeaders: TENANT_HEADER,
  })
  .input(TenantInput)
  .output(EntitlementsResponse)
  .query(({ input, ctx }) => entitlementsServiceOf(ctx).explain(input.tenantId));
