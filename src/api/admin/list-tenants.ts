import { z } from 'zod';
import { CustomerId, TenantSummary, TenantsCursor } from '../../contract/admin.js';
import { NextCursor } from '../../contract/cursor.js';
import { adminProcedure } from '../trpc.js';
import { adminErrorResponses, tenantSummary } from './views.js';

export const listTenants = adminProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/admin/tenants',
      operationId: 'listTenants',
      summary: 'Tenants by id or customer id prefix, or of one customer, with their effective limits',
      description:
        'Ordered by `tenant_id` (byte order: UTF-8, case-sensitive), at most `limit` per page. `query` ' +
        'matches a prefix of the tenant id or of the customer id, literally (`%` and `_` are plain ' +
        "characters); `customer_id` keeps one customer's organizations. `next_cursor` is null on the last " +
        'page; otherwise pass it as `cursor` (with the same `query` and `customer_id`) for the next page. ' +
        'The cursor is opaque; one that is not a `next_cursor` is a 422.',
      tags: ['admin'],
      errorResponses: adminErrorResponses('Admin API off'),
    },
    admin: true,
  })
  .input(
    z.object({
      query: z
        .string()
        .min(1)
        .max(255)
        .regex(/^[^\p{Cc}]*$/u)
        .optional()
        .meta({
          description: 'A prefix of the tenant id or of the customer id (case-sensitive).',
          example: 'org-1',
        }),
      customer_id: CustomerId.optional(),
      limit: z.coerce.number().int().min(1).max(500).default(50),
      cursor: TenantsCursor.optional(),
    }),
  )
  .output(z.object({ tenants: z.array(TenantSummary), next_cursor: NextCursor }))
  .query(async ({ input, ctx }) => {
    const page = await ctx.administration.listTenants({
      prefix: input.query,
      customerId: input.customer_id,
      limit: input.limit,
      after: input.cursor,
    });
    return {
      tenants: page.tenants.map(tenantSummary),
      next_cursor: page.next && TenantsCursor.encode(page.next),
    };
  });
