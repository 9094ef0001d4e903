import { TENANT_HEADER, TenantInput, UsageResponse } from '../../contract/usage.js';
import { headerParameters } from '../header-input.js';
import { workerProcedure } from '../trpc.js';
import { usageErrorResponses, usageServiceOf } from './usage-service.js';

export const getUsage = workerProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/billing/usage',
      operationId: 'getBillingUsage',
      summary: 'What the tenant uses now, against its limits',
      tags: ['usage'],
      requestHeaders: headerParameters(TenantInput, TENANT_HEADER),
      errorResponses: usageErrorResponses(),
    },
    inputHeaders: TENANT_HEADER,
  })
  .input(TenantInput)
  .output(UsageResponse)
  .query(({ input, ctx }) => usageServiceOf(ctx).usage(input.tenantId));
