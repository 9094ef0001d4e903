import { z } from 'zod';
import {
  IDEMPOTENT_REPLAYED,
  ReplayHeaders,
  Reservation,
  ReservationRequest,
  TENANT_HEADER,
  TenantInput,
} from '../../contract/usage.js';
import { headerParameters } from '../header-input.js';
import { workerProcedure } from '../trpc.js';
import { BODY_TOO_LARGE, usageErrorResponses, usageServiceOf } from './usage-service.js';

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
        '`idempotency_key` again answers the first answer, with `Idempotent-Replayed: true` and the ' +
        'reservation’s `released_at` and `expires_at` as they are now. With `lease_seconds` the reservation ' +
        'holds its capacity until `expires_at` unless renewed, and is then released automatically (within 5 ' +
        'seconds), as `expired`.',
      tags: ['usage'],
      requestHeaders: headerParameters(TenantInput, TENANT_HEADER),
      responseHeaders: ReplayHeaders,
      successDescription: 'Granted (or the first grant for this idempotency key, replayed)',
      errorResponses: usageErrorResponses({
        ...BODY_TOO_LARGE,
        409: 'Limit exceeded',
        422: 'Validation Error, or the idempotency key reused for another request',
        503: 'Store unavailable, or the request timed out (nothing granted)',
      }),
    },
    inputHeaders: TENANT_HEADER,
    successStatus: 201,
    conflictBody: 'LimitExceeded',
  })
  .input(z.strictObject({ ...TenantInput.shape, ...ReservationRequest.shape }))
  .output(Reservation)
  .mutation(async ({ input: { tenantId, ...request }, ctx }) => {
    const answer = await usageServiceOf(ctx).reserve(tenantId, request, { notAfter: ctx.deadline });
    // The body is the first answer's; that it is given again is said beside it.
    if (answer.replayed) ctx.setResponseHeader?.(IDEMPOTENT_REPLAYED, 'true');
    return answer.reservation;
  });
