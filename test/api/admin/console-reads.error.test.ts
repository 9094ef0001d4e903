/**
 * What the operator console's reads refuse: bad limits, cursors and queries (422, naming the
 * field), no token or a worker's (401), and the admin API off (404, as if absent).
 */
import { describe, expect, it } from 'vitest';
import { unique, useHarness } from '../../support/harness.js';

const encoded = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const AUDIT_AT = '2026-12-03T12:00:00.123456Z';

/** Each read with a query that succeeds. */
const READS = [
  '/admin/tenants?query=org-&limit=5',
  '/admin/audit?limit=5',
  '/admin/near-limits?min_percent=80',
  '/admin/plans',
  '/admin/tenants/org-anyone/usage',
];

describe('the console reads refuse', () => {
  const h = useHarness({ store: 'pglite' });

  /** `path` answers 422 with one issue, at `loc`. */
  async function refused(path: string, loc: string[]) {
    const res = await h.asAdmin(path);
    const body = (await res.json()) as { detail: { loc: string[] }[] };
    expect({ path, status: res.status, locs: body.detail.map((issue) => issue.loc) }).toEqual({
      path,
      status: 422,
      locs: [loc],
    });
  }

  it.each([
    ['limit=0', ['query', 'limit']],
    ['limit=501', ['query', 'limit']],
    ['limit=1.5', ['query', 'limit']],
    ['limit=many', ['query', 'limit']],
    ['query=', ['query', 'query']],
    [`query=${'x'.repeat(256)}`, ['query', 'query']],
    ['query=org%00', ['query', 'query']],
    ['customer_id=', ['query', 'customer_id']],
    ['cursor=', ['query', 'cursor']],
    ['cursor=not-a-cursor!', ['query', 'cursor']],
    [`cursor=${encoded({ after: 'org-1' })}`, ['query', 'cursor']],
    [`cursor=${encoded(['org-1', 'org-2'])}`, ['query', 'cursor']],
    [`cursor=${encoded([42])}`, ['query', 'cursor']],
    [`cursor=${encoded([''])}`, ['query', 'cursor']],
    [`cursor=${encoded(['org-1 '])}`, ['query', 'cursor']],
    [`cursor=${encoded(['org\u0000'])}`, ['query', 'cursor']],
    [`cursor=${encoded(['x'.repeat(256)])}`, ['query', 'cursor']],
    // An audit cursor is no tenants' cursor.
    [`cursor=${encoded([AUDIT_AT, '1'])}`, ['query', 'cursor']],
  ])('GET /admin/tenants?%s with 422', async (query, loc) => {
    await refused(`/admin/tenants?${query}`, loc);
  });

  it.each([
    ['limit=0', ['query', 'limit']],
    ['limit=501', ['query', 'limit']],
    ['subject_id=', ['query', 'subject_id']],
    [`subject_id=${'x'.repeat(256)}`, ['query', 'subject_id']],
    ['cursor=not-a-cursor!', ['query', 'cursor']],
    [`cursor=${encoded(['org-1'])}`, ['query', 'cursor']],
    [`cursor=${encoded([AUDIT_AT, 'abc'])}`, ['query', 'cursor']],
    [`cursor=${encoded([AUDIT_AT, '0'])}`, ['query', 'cursor']],
    [`cursor=${encoded([AUDIT_AT, '9223372036854775808'])}`, ['query', 'cursor']],
    [`cursor=${encoded(['2026-12-03T12:00:00.123Z', '1'])}`, ['query', 'cursor']],
  ])('GET /admin/audit?%s with 422', async (query, loc) => {
    await refused(`/admin/audit?${query}`, loc);
  });

  it('takes the largest audit id a cursor can name', async () => {
    const res = await h.asAdmin(`/admin/audit?cursor=${encoded([AUDIT_AT, '9223372036854775807'])}`);
    expect(res.status).toBe(200);
  });

  it.each([
    ['min_percent=0', ['query', 'min_percent']],
    ['min_percent=1001', ['query', 'min_percent']],
    ['min_percent=80.5', ['query', 'min_percent']],
    ['min_percent=high', ['query', 'min_percent']],
    ['limit=0', ['query', 'limit']],
    ['limit=101', ['query', 'limit']],
  ])('GET /admin/near-limits?%s with 422', async (query, loc) => {
    await refused(`/admin/near-limits?${query}`, loc);
  });

  it('GET /admin/tenants/{tenantId}/usage with 422 for an id no tenant can have', async () => {
    await refused(`/admin/tenants/${'x'.repeat(256)}/usage`, ['path', 'tenantId']);
  });

  it('GET /admin/tenants/{tenantId}/usage with 404 "Tenant not found" for an unknown tenant', async () => {
    const res = await h.asAdmin(`/admin/tenants/${unique('nobody')}/usage`);
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('{"detail":"Tenant not found"}');
  });

  it.each(READS)('%s with 401 without a token, or with a worker token', async (path) => {
    const none = await h.request(path);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(await none.text()).toBe('{"detail":"Missing authorization header"}');
    const worker = await h.asAdmin(path, { headers: { authorization: `Bearer ${await h.workerToken()}` } });
    expect(worker.status).toBe(401);
    // Signed with the workers' secret, not the admins'.
    expect(await worker.text()).toBe('{"detail":"Invalid token. Error: Signature verification failed"}');
  });

  it.each(READS)('%s with 404 {"detail":"Not Found"} when the admin API is off', async (path) => {
    const off = h.withApp({ config: { adminSecret: undefined } });
    const res = await off.asAdmin(path);
    expect({ status: res.status, body: await res.text() }).toEqual({
      status: 404,
      body: '{"detail":"Not Found"}',
    });
  });
});
