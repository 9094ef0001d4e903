import { BILLING_LIMITS_HEADERS, BillingLimitsInput, BillingLimitsResponse } from '../../contract/limits.js';
import { headerParameters } from '../header-input.js';
import { limitCheckProcedure } from '../trpc.js';

export const limits = limitCheckProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/billing/limits',
      operationId: 'getBillingLimits',
      summary: "A tenant's billing limits",
      description:
        'What the tenant may use: deployments and self-hosted workers (`null` = unlimited). ' +
        'The Engine calls this on every deployment and self-hosted worker registration.',
      tags: ['billing'],
      requestHeaders: headerParameters(BillingLimitsInput, BILLING_LIMITS_HEADERS),
      successDescription: 'The tenant and its limits',
      errorResponses: {
        401: 'Unauthorized',
        404: 'Tenant not found (database plan source)',
        422: 'Validation Error',
        500: 'Internal Server Error',
        503: 'Limits store unavailable and the tenant not cached',
      },
    },
    inputHeaders: BILLING_LIMITS_HEADERS,
  })
  .input(BillingLimitsInput)
  .output(BillingLimitsResponse)
  .query(({ input, ctx }) => ctx.services.limits.answer(input));
