import { z } from 'zod';
import { ReservationList, ReservationListQuery, TENANT_HEADER, TenantInput } from '../../contract/usage.js';
import { headerParameters } from '../header-input.js';
import { workerProcedure } from '../trpc.js';
import { usageErrorResponses, usageServiceOf } from './usage-service.js';

export const listReservations = workerProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/billing/reservations',
      operationId: 'listReservations',
      summary: "The tenant's reservations, newest first",
      description:
        'By `state` (default `active`: still held), optionally one `resource`; newest first (by `created_at`, ' +
        'then `reservation_id`), at most `limit` per page. `next_cursor` is null on the last page; otherwise pass ' +
        'it as `cursor` (with the same `state` and `resource`) for the next page. The cursor is opaque; one that ' +
        'is not a `next_cursor` is a 422.',
      tags: ['usage'],
      requestHeaders: headerParameters(TenantInput, TENANT_HEADER),
      errorResponses: usageErrorResponses(),
    },
    inputHeaders: TENANT_HEADER,
  })
  .input(z.object({ ...TenantInput.shape, ...ReservationListQuery.shape }))
  .output(ReservationList)
  .query(({ input: { tenantId, cursor, ...query }, ctx }) =>
    usageServiceOf(ctx).list(tenantId, { ...query, after: cursor }),
  );
