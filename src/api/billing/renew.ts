import { z } from 'zod';
import {
  RenewRequest,
  Reservation,
  ReservationPath,
  TENANT_HEADER,
  TenantInput,
} from '../../contract/usage.js';
import { headerParameters } from '../header-input.js';
import { workerProcedure } from '../trpc.js';
import { BODY_TOO_LARGE, usageErrorResponses, usageServiceOf } from './usage-service.js';

export const renew = workerProcedure
  .meta({
    openapi: {
      method: 'POST',
      path: '/billing/reservations/{reservationId}/renew',
      operationId: 'renewReservation',
      summary: 'Extend a leased reservation',
      description:
        'Moves `expires_at` to now + `lease_seconds` (left out: the length last granted, at creation or the latest ' +
        'renewal), on the database’s clock. Answers the reservation as `POST /billing/reservations` does, with ' +
        '`used`, `limit` and `remaining` as they are now. A renewal racing the lease’s end: exactly one of the two ' +
        'wins — renewed (200), or expired and released (409 `reservation_expired`).',
      tags: ['usage'],
      requestHeaders: headerParameters(TenantInput, TENANT_HEADER),
      successDescription: 'Renewed: the new `expires_at`',
      errorResponses: usageErrorResponses({
        ...BODY_TOO_LARGE,
        404: 'No such reservation for this tenant',
        409: 'Not renewable: `not_leased`, `reservation_expired` or `reservation_released`',
      }),
    },
    inputHeaders: TENANT_HEADER,
    optionalBody: true,
    conflictBody: 'RenewConflict',
  })
  .input(z.strictObject({ ...TenantInput.shape, ...ReservationPath.shape, ...RenewRequest.shape }))
  .output(Reservation)
  .mutation(({ input, ctx }) =>
    usageServiceOf(ctx).renew(input.tenantId, input.reservationId, input.lease_seconds),
  );
