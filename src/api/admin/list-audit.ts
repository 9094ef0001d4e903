import { z } from 'zod';
import { AuditCursor, AuditEntry } from '../../contract/audit.js';
import { NextCursor } from '../../contract/cursor.js';
import { adminProcedure } from '../trpc.js';
import { adminErrorResponses, auditEntryView } from './views.js';

export const listAudit = adminProcedure
  .meta({
    openapi: {
      method: 'GET',
      path: '/admin/audit',
      operationId: 'listAudit',
      summary: 'The audit log: every write, who made it, and the state before and after, newest first',
      description:
        "Newest first (by `at`, then `id`), at most `limit` per page; `subject_id` keeps one subject's " +
        'entries (a tenant, a plan, a customer, an endpoint). `next_cursor` is null on the last page; ' +
        'otherwise pass it as `cursor` (with the same `subject_id`) for the next page. The cursor is ' +
        'opaque; one that is not a `next_cursor` is a 422.',
      tags: ['admin'],
      errorResponses: adminErrorResponses('Admin API off'),
    },
    admin: true,
  })
  .input(
    z.object({
      subject_id: z
        .string()
        .min(1)
        .max(255)
        .regex(/^[^\p{Cc}]*$/u)
        .optional()
        .meta({ description: 'Only the entries about this subject (exact).', example: 'org-1' }),
      limit: z.coerce.number().int().min(1).max(500).default(50),
      cursor: AuditCursor.optional(),
    }),
  )
  .output(z.object({ entries: z.array(AuditEntry), next_cursor: NextCursor }))
  .query(async ({ input, ctx }) => {
    const page = await ctx.administration.auditLog({
      subjectId: input.subject_id,
      limit: input.limit,
      after: input.cursor,
    });
    return {
      entries: page.entries.map(auditEntryView),
      next_cursor: page.next && AuditCursor.encode(page.next),
    };
  });
