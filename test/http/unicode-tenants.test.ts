/**
 * Tenant ids beyond ASCII: every id the admin API accepts is reachable with its UTF-8 bytes in
 * `tenant-id` (header values that are valid UTF-8 are read as UTF-8, anything else as Latin-1, as
 * Starlette read every header for the original), and ids HTTP could never deliver — leading or
 * trailing space or tab, which HTTP strips from header values — are refused by the contract.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DrainableServer, listen } from '../../src/http/node-server.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { STORE_KINDS, trpcPath, unique, useHarness } from '../support/harness.js';

/** A header value carrying `text`'s UTF-8 bytes, one character per byte: what fetch and Node's parser hold. */
const utf8Bytes = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

const FREE = { deployments: 1, self_hosted_workers: 5, plan_type: 'free' };

describe.each(STORE_KINDS)('Unicode tenant ids on %s', (kind) => {
  const h = useHarness({ store: kind });
  let server: DrainableServer;
  beforeAll(async () => {
    server = await listen(h.app.fetch, { port: 0, hostname: '127.0.0.1' });
  });
  afterAll(async () => {
    await server?.close(1_000);
  });

  /** Creates `tenant` over the admin API, as an operator would (the id percent-encoded as UTF-8 in the path). */
  async function createOverAdminApi(tenant: string) {
    const res = await h.asAdmin(`/admin/tenants/${encodeURIComponent(tenant)}`, {
      method: 'PUT',
      body: JSON.stringify({ plan_id: 'free' }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(((await res.json()) as { tenant_id: string }).tenant_id).toBe(tenant);
  }

  /** `GET /billing/limits` over a real socket, `tenant-id` carrying `headerValue` byte for byte. */
  async function limitsOverSocket(headerValue: string) {
    return fetch(`${server.origin}/billing/limits`, {
      headers: { authorization: `Bearer ${await h.workerToken()}`, 'tenant-id': headerValue },
    });
  }

  it('reaches a tenant the admin API created, with its UTF-8 bytes in tenant-id (socket and in process)', async () => {
    const tenant = `${unique('org')}-ü-日本`;
    await createOverAdminApi(tenant);
    const expected = JSON.stringify({ tenant_id: tenant, limits: FREE });

    const overSocket = await limitsOverSocket(utf8Bytes(tenant));
    expect({ status: overSocket.status, body: await overSocket.text() }).toEqual({
      status: 200,
      body: expected,
    });

    const inProcess = await h.asWorker('/billing/limits', { headers: { 'tenant-id': utf8Bytes(tenant) } });
    expect({ status: inProcess.status, body: await inProcess.text() }).toEqual({
      status: 200,
      body: expected,
    });

    // tRPC had always found it: the same tenant, the same answer.
    const trpc = await h.asWorker(trpcPath('billing.limits', { tenantId: tenant }));
    expect(await trpc.text()).toBe(`{"result":{"data":${expected}}}`);
  });

  it('reaches it on every route that reads tenant-id (usage, reservations)', async () => {
    const tenant = `${unique('org')}-café-🚀`;
    await createOverAdminApi(tenant);
    const headers = { 'tenant-id': utf8Bytes(tenant) };
    const usage = await h.asWorker('/billing/usage', { headers });
    expect(usage.status).toBe(200);
    expect(((await usage.json()) as { tenant_id: string }).tenant_id).toBe(tenant);
    const reserved = await h.asWorker('/billing/reservations', {
      method: 'POST',
      headers,
      body: JSON.stringify({ resource: 'deployments', idempotency_key: unique('key') }),
    });
    expect(reserved.status).toBe(201);
    const admin = (await (await h.asAdmin(`/admin/tenants/${encodeURIComponent(tenant)}`)).json()) as {
      tenant_id: string;
    };
    expect(admin.tenant_id).toBe(tenant);
  });

  it.each([
    ['3 bytes', '日'],
    ['4 bytes (two UTF-16 code units)', '🚀'],
  ])('reaches an id of 255 characters of %s each in UTF-8', async (_, character) => {
    const prefix = `${unique('o')}-`;
    const tenant = `${prefix}${character.repeat(255 - prefix.length)}`;
    expect([...tenant].length).toBe(255);
    await createOverAdminApi(tenant);
    const res = await limitsOverSocket(utf8Bytes(tenant));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { tenant_id: string }).tenant_id).toBe(tenant);
    // One character more is too long, in the header as in the admin API.
    const tooLong = await limitsOverSocket(utf8Bytes(`${tenant}${character}`));
    expect(tooLong.status).toBe(422);
    expect(await tooLong.json()).toMatchObject({
      detail: [{ type: 'string_too_long', input: `${tenant}${character}` }],
    });
  });

  it('reads bytes that are not valid UTF-8 as Latin-1, as the original did', async () => {
    // `org-é` as one Latin-1 byte (0xE9): no UTF-8 sequence, so the character of that byte.
    const tenant = `${unique('org')}-é`;
    await createOverAdminApi(tenant);
    const res = await limitsOverSocket(tenant); // é is U+00E9: its Latin-1 byte on the wire
    expect(res.status).toBe(200);
    expect(((await res.json()) as { tenant_id: string }).tenant_id).toBe(tenant);
  });

  it('names the tenant in the request log line as it was read', async () => {
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (line: string) => void lines.push(line) } });
    const app = h.withApp({ dependencies: { logger } });
    const tenant = `${unique('org')}-ü-日本`;
    await app.asWorker('/billing/limits', { headers: { 'tenant-id': utf8Bytes(tenant) } });
    expect(lines.map((line) => JSON.parse(line) as { tenant_id?: string })).toEqual([
      expect.objectContaining({ tenant_id: tenant, status: 404 }),
    ]);
  });

  it('answers an unknown Unicode tenant 404, never the Latin-1 reading of its bytes', async () => {
    const tenant = `${unique('org')}-ü`;
    await createOverAdminApi(utf8Bytes(tenant)); // a tenant named after the mis-read bytes (`org-Ã¼`)
    const res = await limitsOverSocket(utf8Bytes(tenant));
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('{"detail":"Tenant not found"}');
    // …while that tenant is reached with its own UTF-8 bytes.
    const misread = await limitsOverSocket(utf8Bytes(utf8Bytes(tenant)));
    expect(misread.status).toBe(200);
  });
});

describe('tenant ids HTTP could not deliver in a header (leading or trailing space or tab)', () => {
  const h = useHarness({ store: 'pglite' });

  const refusal = (loc: (string | number)[], input: string) => ({
    type: 'value_error',
    loc,
    msg: 'Value error, must not start or end with a space or a tab',
    input,
  });

  it.each([
    ['a leading space', ' org-pad'],
    ['a trailing space', 'org-pad '],
    ['spaces around', '  org-pad  '],
  ])('are refused by the admin API with 422 (%s), and nothing is written', async (_, tenant) => {
    const path = `/admin/tenants/${encodeURIComponent(tenant)}`;
    const put = await h.asAdmin(path, { method: 'PUT', body: JSON.stringify({ plan_id: 'free' }) });
    expect(put.status).toBe(422);
    expect(await put.text()).toBe(JSON.stringify({ detail: [refusal(['path', 'tenantId'], tenant)] }));
    const get = await h.asAdmin(path);
    expect(get.status).toBe(422);
    expect(await h.store.tenants.findTenant(tenant)).toBeUndefined();
    expect(await h.store.tenants.findTenant(tenant.trim())).toBeUndefined();
  });

  it('are refused on tRPC (its validation status, 400) with the same entry, on worker and admin procedures', async () => {
    const limits = await h.asWorker(trpcPath('billing.limits', { tenantId: 'org-pad ' }));
    expect(limits.status).toBe(400);
    expect(await limits.json()).toMatchObject({
      error: {
        data: { code: 'BAD_REQUEST', detail: [refusal(['input', 'tenantId'], 'org-pad ')] },
      },
    });
    const put = await h.asAdmin('/trpc/admin.putTenant', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenantId: '\torg-pad', plan_id: 'free' }),
    });
    expect(put.status).toBe(400);
    // A tab is a control character first: pydantic's one entry per field is the pattern's.
    expect(await put.json()).toMatchObject({
      error: { data: { detail: [{ type: 'string_pattern_mismatch', input: '\torg-pad' }] } },
    });
  });

  it('reach the REST routes without the padding, which HTTP strips before the contract sees the value', async () => {
    const tenant = await h.tenant('growth');
    const res = await h.asWorker('/billing/limits', { headers: { 'tenant-id': `  ${tenant}\t ` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { tenant_id: string }).tenant_id).toBe(tenant);
  });

  it('keeps ids whose edges are other whitespace (U+00A0, U+3000), which HTTP delivers as sent', async () => {
    for (const tenant of [`\u00a0${unique('org')}`, `${unique('org')}\u3000`]) {
      const put = await h.asAdmin(`/admin/tenants/${encodeURIComponent(tenant)}`, {
        method: 'PUT',
        body: JSON.stringify({ plan_id: 'free' }),
      });
      expect(put.status).toBe(200);
      const res = await h.asWorker('/billing/limits', { headers: { 'tenant-id': utf8Bytes(tenant) } });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { tenant_id: string }).tenant_id).toBe(tenant);
    }
  });
});
