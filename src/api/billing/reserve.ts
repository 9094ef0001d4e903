import { z } from 'zod';
import { Reservation, ReservationRequest, TENANT_HEADER, TenantInput } from '../../contract/usage.js';
import { headerParameters } from '../header-input.js';
import { workerProcedure } from '../trpc.js';
import { usageServiceOf } from './usage-service.js';

export const reserve = workerProcedure
  .meta({
    openapi: {
      method: 'POST',
      path: '/billing/reservations',
      operationId: 'createReservation',
      summary: 'Reserve capacity before creating a deployment or registering a worker',
      description:
        'Granted atomically against the limit (safe across replicas). Past a soft limit the grant is marked ' +
        '`overage`; past a hard limit, or a soft limit’s overage cap, 409 and nothing is recorded. The same ' +
        '`idempotency_key` again answers the first answer.',
      tags: ['usage'],
      requestHeaders: headerParameters(TenantInput, TENANT_HEADER),
      successDescription: 'Granted',
      errorResponses: {
        401: 'Unauthorized',
        404: 'Tenant not found',
        409: 'Limit exceeded',
        413: 'Request body larger than 64 KiB',
        422: 'Validation Error, or the idempotency key reused for another request',
        503: 'Store unavailable',
      },
    },
    inputHeaders: TENANT_HEADER,
    successStatus: 201,
  })
  .input(z.strictObject({ ...TenantInput.shape, ...ReservationRequest.shape }))
  .output(Reservation)
  .mutation(({ input: { tenantId, ...request }, ctx }) =>
    usageServiceOf(ctx).reserve(tenantId, request, { notAfter: ctx.deadline }),
  );
