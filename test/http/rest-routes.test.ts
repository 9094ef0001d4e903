/**
 * The REST adapter's own decisions — which procedures get a route, where each input field is read
 * from, how an unreadable body is reported, which status and headers a success gets — with the app
 * assembled inside each test: route tables are derived while the app is built, so a test of them
 * must build one (a file's shared app is built before its tests run).
 */
import { describe, expect, it } from 'vitest';
import type { ProcedureEntry } from '../../src/api/procedures.js';
import { allowedMethodsOf, restRoutesOf } from '../../src/http/rest-routes.js';
import { useHarness } from '../support/harness.js';

/** Where a 422's issues are located, in order. */
async function locationsOf(res: Response): Promise<unknown[][]> {
  return ((await res.json()) as { detail: { loc: unknown[] }[] }).detail.map((issue) => issue.loc);
}

describe('the route table', () => {
  const entry = (meta: unknown) => ({ meta }) as ProcedureEntry;

  it('has a route for each procedure with OpenAPI meta that is not turned off', () => {
    const routes = restRoutesOf([
      entry(undefined),
      entry({}),
      entry({ openapi: { method: 'GET', path: '/off', enabled: false } }),
      entry({ openapi: { method: 'GET', path: '/on', enabled: true } }),
      entry({ openapi: { method: 'PUT', path: '/plain' } }),
    ]);
    expect(routes.map(({ method, path }) => `${method} ${path}`)).toEqual(['GET /on', 'PUT /plain']);
  });

  it('knows every method of a path, path parameters matching one segment', () => {
    const allowed = allowedMethodsOf(
      restRoutesOf([
        entry({ openapi: { method: 'GET', path: '/things/{thingId}' } }),
        entry({ openapi: { method: 'PUT', path: '/things/{thingId}' } }),
        entry({ openapi: { method: 'POST', path: '/things' } }),
      ]),
    );
    expect(allowed('/things/a-1')).toEqual(['GET', 'PUT']);
    expect(allowed('/things')).toEqual(['POST']);
    expect(allowed('/things/')).toEqual([]);
    expect(allowed('/things/a/b')).toEqual([]);
    expect(allowed('/other')).toEqual([]);
  });
});

describe('REST routes of an app built in the test', () => {
  const h = useHarness({ store: 'pglite' });

  async function reserveWith(body: string | undefined, tenant?: string) {
    const app = h.withApp({});
    return app.asWorker('/billing/reservations', {
      method: 'POST',
      headers: { 'tenant-id': tenant ?? (await h.tenant('growth')), 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body }),
    });
  }

  it.each([
    ['no body', undefined],
    ['an empty body', ''],
    ['a blank body', ' \n '],
  ])('answers %s where one is required as a missing body', async (_, body) => {
    const res = await reserveWith(body);
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      detail: [{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }],
    });
  });

  it('answers a body that is not JSON in pydantic’s words', async () => {
    const res = await reserveWith('{"resource": ');
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      detail: [
        {
          type: 'json_invalid',
          loc: ['body', 0],
          msg: 'JSON decode error',
          input: {},
          ctx: { error: 'Invalid JSON' },
        },
      ],
    });
  });

  it.each([
    ['[1]', [1]],
    ['5', 5],
    ['null', null],
    ['"deployments"', 'deployments'],
    ['[]', []],
  ])('answers JSON that is not an object (%s) as such, with what was sent', async (body, input) => {
    const res = await reserveWith(body);
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      detail: [
        {
          type: 'model_attributes_type',
          loc: ['body'],
          msg: 'Input should be a valid dictionary or object to extract fields from',
          input,
        },
      ],
    });
  });

  it('locates a body field’s issue in the body, and answers a success 201 as JSON', async () => {
    const tenant = await h.tenant('growth');
    const refused = await reserveWith('{"resource": "deployments"}', tenant);
    expect(await locationsOf(refused)).toEqual([['body', 'idempotency_key']]);
    const made = await reserveWith('{"resource": "deployments", "idempotency_key": "k-1"}', tenant);
    expect(made.status).toBe(201);
    expect(made.headers.get('content-type')).toBe('application/json');
    expect(made.headers.get('idempotent-replayed')).toBeNull();
    const again = await reserveWith('{"resource": "deployments", "idempotency_key": "k-1"}', tenant);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('content-type')).toBe('application/json');
    expect(await again.json()).toEqual(await made.json());
  });

  it('reads a body that may be left out as {} when it is, and answers 204 with nothing', async () => {
    const tenant = await h.tenant('growth');
    const made = await reserveWith(
      '{"resource": "deployments", "idempotency_key": "k-2", "lease_seconds": 60}',
      tenant,
    );
    const { reservation_id: id } = (await made.json()) as { reservation_id: string };
    const app = h.withApp({});
    const renewed = await app.asWorker(`/billing/reservations/${id}/renew`, {
      method: 'POST',
      headers: { 'tenant-id': tenant },
    });
    expect(renewed.status).toBe(200);
    expect(((await renewed.json()) as { reservation_id: string }).reservation_id).toBe(id);

    const released = await app.asWorker(`/billing/reservations/${id}`, {
      method: 'DELETE',
      headers: { 'tenant-id': tenant },
    });
    expect(released.status).toBe(204);
    expect(released.headers.get('content-type')).toBeNull();
    expect(await released.text()).toBe('');
  });

  it('reads no body on a POST whose input is its path alone, whatever is sent', async () => {
    const app = h.withApp({});
    const res = await app.asAdmin('/admin/webhook-events/evt-nobody/replay', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"not": json',
    });
    expect(res.status).toBe(404);
  });

  it('reads the query of a GET, locates its issues in the query, and a header field from its header only', async () => {
    const tenant = await h.tenant('growth');
    const app = h.withApp({});
    const listed = await app.asWorker('/billing/reservations?limit=1&state=active', {
      headers: { 'tenant-id': tenant },
    });
    expect(listed.status).toBe(200);
    const badLimit = await app.asWorker('/billing/reservations?limit=0', {
      headers: { 'tenant-id': tenant },
    });
    expect(await locationsOf(badLimit)).toEqual([['query', 'limit']]);
    const fromQuery = await app.asWorker(`/billing/limits?tenantId=${tenant}&tenant-id=${tenant}`);
    expect(fromQuery.status).toBe(422);
    expect(await locationsOf(fromQuery)).toEqual([['header', 'tenant-id']]);
  });

  it('reads path parameters, and locates their issues in the path', async () => {
    const tenant = await h.tenant('growth');
    const app = h.withApp({});
    const shown = await app.asAdmin(`/admin/tenants/${tenant}`);
    expect(shown.status).toBe(200);
    expect(((await shown.json()) as { tenant_id: string }).tenant_id).toBe(tenant);
    const badId = await app.asWorker('/billing/reservations/not-a-uuid', {
      method: 'DELETE',
      headers: { 'tenant-id': tenant },
    });
    expect(badId.status).toBe(422);
    expect(await locationsOf(badId)).toEqual([['path', 'reservationId']]);
  });

  it('checks the token before the body: an unreadable body from a caller without one is a 401', async () => {
    const app = h.withApp({});
    const res = await app.request('/billing/reservations', {
      method: 'POST',
      headers: { 'tenant-id': 'org-a', 'content-type': 'application/json' },
      body: '{"resource": ',
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ detail: 'Missing authorization header' });
  });
});
