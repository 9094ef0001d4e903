import { z } from 'zod';
import { ReservationPath, TENANT_HEADER, TenantInput } from '../../contract/usage.js';
import { headerParameters } from '../header-input.js';
import { workerProcedure } from '../trpc.js';
import { usageErrorResponses, usageServiceOf } from './usage-service.js';

export const release = workerProcedure
  .meta({
    openapi: {
      method: 'DELETE',
      path: '/billing/reservations/{reservationId}',
      operationId: 'releaseReservation',
      summary: 'Give reserved capacity back (idempotent)',
      tags: ['usage'],
      requestHeaders: headerParameters(TenantInput, TENANT_HEADER),
      successDescription: 'Released (or released before)',
      errorResponses: usageErrorResponses({ 404: 'No such reservation for this tenant' }),
    },
    inputHeaders: TENANT_HEADER,
    successStatus: 204,
  })
  .input(z.object({ ...TenantInput.shape, ...ReservationPath.shape }))
  .output(z.void())
  .mutation(async ({ input, ctx }) => {
    await usageServiceOf(ctx).release(input.tenantId, input.reservationId);
  });
