import { z } from 'zod';
import { TENANT_HEADER, TenantInput, UsageResponse, UsageUpdate } from '../../contract/usage.js';
import { headerParameters } from '../header-input.js';
import { workerProcedure } from '../trpc.js';
import { BODY_TOO_LARGE, usageErrorResponses, usageServiceOf, workerActor } from './usage-service.js';

export const reconcileUsage = workerProcedure
  .meta({
    openapi: {
      method: 'PUT',
      path: '/billing/usage',
      operationId: 'reconcileBillingUsage',
      summary: "Set the tenant's usage to the Engine's absolute counts",
      description:
        'For drift after a crash on the Engine’s side. A count left out is unchanged. Audited with the difference.',
      tags: ['usage'],
      requestHeaders: headerParameters(TenantInput, TENANT_HEADER),
      errorResponses: usageErrorResponses({ ...BODY_TOO_LARGE }),
    },
    inputHeaders: TENANT_HEADER,
  })
  .input(z.strictObject({ ...TenantInput.shape, ...UsageUpdate.shape }))
  .output(UsageResponse)
  .mutation(({ input: { tenantId, ...counts }, ctx }) =>
    usageServiceOf(ctx).reconcile(tenantId, counts, workerActor(ctx.worker)),
  );
