import { z } from 'zod';
import { CheckRequest, CheckResponse } from '../../contract/entitlements.js';
import { TENANT_HEADER, TenantInput } from '../../contract/usage.js';
import { headerParameters } from '../header-input.js';
import { workerProcedure } from '../trpc.js';
import { BODY_TOO_LARGE, usageErrorResponses, usageServiceOf } from './usage-service.js';

export const check = workerProcedure
  .meta({
    openapi: {
      method: 'POST',
      path: '/billing/checks',
      operationId: 'checkBillingUsage',
      summary: 'Would these be granted now? (reserves nothing)',
      description:
        'Each check is judged on its own against current usage, as a reservation would be now, and answered in ' +
        'request order with the reason, the units it would exceed the limit by, and — when refused — the first ' +
        'plan above the tenant’s that would allow it. Nothing is reserved: a reservation made afterwards is ' +
        'decided on the usage of its own moment.',
      tags: ['usage'],
      requestHeaders: headerParameters(TenantInput, TENANT_HEADER),
      errorResponses: usageErrorResponses({ ...BODY_TOO_LARGE }),
    },
    inputHeaders: TENANT_HEADER,
  })
  .input(z.strictObject({ ...TenantInput.shape, ...CheckRequest.shape }))
  .output(CheckResponse)
  .mutation(({ input: { tenantId, ...request }, ctx }) => usageServiceOf(ctx).check(tenantId, request));
