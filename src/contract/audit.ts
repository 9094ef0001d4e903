import { z } from 'zod';
import { pageCursor } from './cursor.js';
import { Timestamp } from './usage.js';

/** A state before or after a write, as the audit log recorded it. */
const AuditState = z
  .record(z.string(), z.unknown())
  .nullable()
  .meta({
    description:
      'The state as recorded; `null`: none (a creation, or a deletion). A state that is no JSON object ' +
      '(the demo seed records its list of tenants) is answered as `{"value": …}`.',
  });

/** One write: who made it, to what, and the state before and after. */
export const AuditEntry = z
  .object({
    id: z.string().meta({ description: 'Increasing in the order entries were written.' }),
    at: Timestamp.meta({ description: 'When the write committed its transaction (RFC 3339, UTC).' }),
    actor: z.string().meta({ description: "The admin token's `sub`, `engine`, `orb`, `seed`, …" }),
    action: z.string().meta({ example: 'tenant.put' }),
    subject_type: z.string().meta({ example: 'tenant' }),
    subject_id: z.string().meta({ example: 'org-1' }),
    before: AuditState,
    after: AuditState,
  })
  .meta({
    id: 'AuditEntry',
    example: {
      id: '4711',
      at: '2026-12-03T12:00:00.123Z',
      actor: 'alice',
      action: 'tenant.clear_overrides',
      subject_type: 'tenant',
      subject_id: 'org-1',
      before: { tenantId: 'org-1', overrides: { deployments: 10 } },
      after: { tenantId: 'org-1', overrides: {} },
    },
  });
export type AuditEntry = z.infer<typeof AuditEntry>;

/** An audit entry's id: a PostgreSQL `bigserial`, in decimal. */
const isAuditId = (id: string) => /^[1-9]\d{0,18}$/.test(id) && BigInt(id) <= 9_223_372_036_854_775_807n;

/** The opaque `cursor` of `GET /admin/audit` (see `pageCursor`). */
export const AuditCursor = pageCursor({
  example: 'WyIyMDI2LTEyLTAzVDEyOjAwOjAwLjEyMzQ1NloiLCI0NzExIl0',
  isId: isAuditId,
});
