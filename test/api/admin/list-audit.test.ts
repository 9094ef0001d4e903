import { desc, eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../../src/contract/audit.js';
import { auditLog } from '../../../src/db/schema.js';
import { STORE_KINDS, type StoreKind, trpcPath, unique, useHarness } from '../../support/harness.js';

interface Page {
  entries: AuditEntry[];
  next_cursor: string | null;
}

describe.each(STORE_KINDS)('GET /admin/audit on %s', (kind: StoreKind) => {
  const h = useHarness({ store: kind });

  const page = async (query: Record<string, string>) => {
    const res = await h.asAdmin(`/admin/audit?${new URLSearchParams(query)}`);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as Page;
  };

  /** Every entry for `query`, page by page (`limit` a page). */
  async function walk(query: Record<string, string>, limit: number) {
    const ids: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const answer: Page = await page({ ...query, limit: String(limit), ...(cursor ? { cursor } : {}) });
      ids.push(...answer.entries.map((entry) => entry.id));
      cursor = answer.next_cursor;
      if (!cursor) break;
    }
    return ids;
  }

  /** The subject's entries as stored, newest first. */
  const storedIds = async (subjectId: string) =>
    (
      await h.db
        .select({ id: auditLog.id })
        .from(auditLog)
        .where(eq(auditLog.subjectId, subjectId))
        .orderBy(desc(auditLog.at), desc(auditLog.id))
    ).map((row) => String(row.id));

  it("answers a subject's writes newest first: who, what, and the state before and after", async () => {
    const tenant = unique('org');
    const token = await h.adminToken('carol');
    const put = (body: unknown) =>
      h.asAdmin(`/admin/tenants/${tenant}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await put({ plan_id: 'free', overrides: { deployments: 3 } })).status).toBe(200);
    expect((await put({ plan_id: 'growth' })).status).toBe(200);
    const { entries, next_cursor } = await page({ subject_id: tenant });
    expect(next_cursor).toBeNull();
    expect(
      entries.map(({ actor, action, subject_type, subject_id }) => ({
        actor,
        action,
        subject_type,
        subject_id,
      })),
    ).toEqual([
      { actor: 'carol', action: 'tenant.put', subject_type: 'tenant', subject_id: tenant },
      { actor: 'carol', action: 'tenant.put', subject_type: 'tenant', subject_id: tenant },
    ]);
    const [second, first] = entries;
    expect(first?.before).toBeNull();
    expect(first?.after).toMatchObject({ tenantId: tenant, planId: 'free', overrides: { deployments: 3 } });
    expect(second?.before).toEqual(first?.after);
    expect(second?.after).toMatchObject({ planId: 'growth', overrides: { deployments: 3 } });
    expect(Number(second?.id)).toBeGreaterThan(Number(first?.id));
    expect(Date.parse(second?.at ?? '')).toBeGreaterThanOrEqual(Date.parse(first?.at ?? ''));
    expect(first?.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('pages by next_cursor across tied and sub-millisecond times: every entry once, newest first', async () => {
    const subject = unique('subject');
    // Eleven entries in groups of three at the same microsecond, the groups a microsecond apart.
    await h.db.execute(sql`
      insert into audit_log (at, actor, action, subject_type, subject_id, before, after)
      select timestamptz '2001-01-01 12:00:00+00' + (g / 3) * interval '1 microsecond', 'test', 'test.write',
             'test', ${subject}::text, null, jsonb_build_object('n', g)
      from generate_series(1, 11) as g`);
    const stored = await storedIds(subject);
    expect(stored).toHaveLength(11);
    expect(await walk({ subject_id: subject }, 2)).toEqual(stored);
    expect(await walk({ subject_id: subject }, 11)).toEqual(stored);
    expect(await walk({ subject_id: subject }, 500)).toEqual(stored);
  });

  it('lists every subject without subject_id, newest first, and pages on from the cursor', async () => {
    const tenant = await h.tenant('free');
    const first = await page({ limit: '2' });
    expect(first.entries[0]).toMatchObject({ subject_id: tenant, action: 'tenant.put', actor: 'test' });
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await page({ limit: '2', cursor: first.next_cursor ?? '' });
    const newest = await h.db
      .select({ id: auditLog.id })
      .from(auditLog)
      .orderBy(desc(auditLog.at), desc(auditLog.id))
      .limit(4);
    expect([...first.entries, ...second.entries].map((entry) => entry.id)).toEqual(
      newest.map((row) => String(row.id)),
    );
  });

  it('answers a state that is no JSON object as {"value": …}, and null as null', async () => {
    const subject = unique('seed');
    await h.db.insert(auditLog).values([
      {
        actor: 'seed',
        action: 'seed',
        subjectType: 'seed',
        subjectId: subject,
        before: null,
        after: [{ tenantId: 'org-1' }],
      },
      {
        actor: 'test',
        action: 'test.scalar',
        subjectType: 'test',
        subjectId: subject,
        before: 'text',
        after: 42,
      },
    ]);
    const { entries } = await page({ subject_id: subject });
    expect(entries.map(({ before, after }) => ({ before, after }))).toEqual([
      { before: { value: 'text' }, after: { value: 42 } },
      { before: null, after: { value: [{ tenantId: 'org-1' }] } },
    ]);
  });

  it('answers nothing for a subject without entries', async () => {
    expect(await page({ subject_id: unique('nobody') })).toEqual({ entries: [], next_cursor: null });
  });

  it('pages over tRPC with the same cursor', async () => {
    const tenant = await h.tenant('free');
    await h.store.tenants.clearOverrides(tenant, 'test');
    await h.store.tenants.clearOverrides(tenant, 'test');
    const query = async (input: Record<string, unknown>) => {
      const res = await h.asAdmin(trpcPath('admin.listAudit', input));
      return ((await res.json()) as { result: { data: Page } }).result.data;
    };
    const first = await query({ subject_id: tenant, limit: 2 });
    const second = await query({ subject_id: tenant, limit: 2, cursor: first.next_cursor });
    expect([...first.entries, ...second.entries].map((entry) => entry.id)).toEqual(await storedIds(tenant));
    expect(second.next_cursor).toBeNull();
  });
});
