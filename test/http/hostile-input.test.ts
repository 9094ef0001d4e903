import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exceedsJsonDepth, MAX_JSON_DEPTH } from '../../src/http/json-depth.js';
import { type DrainableServer, listen } from '../../src/http/node-server.js';
import { trpcPath, useHarness } from '../support/harness.js';

const nested = (depth: number, leaf = '1') => `${'['.repeat(depth)}${leaf}${']'.repeat(depth)}`;

describe('exceedsJsonDepth', () => {
  it.each([
    ['{}', 1, false],
    ['{"a":{"b":[1]}}', 3, false],
    ['{"a":{"b":[1]}}', 2, true],
    ['"[[[[[[[[["', 1, false], // brackets inside a string don't nest
    ['{"a":"\\"[[[[["}', 1, false], // nor after an escaped quote
    ['[[],[],[]]', 2, false], // siblings, not depth
    ['[{},{},{}]', 2, false], // a closing brace ends its level as a bracket does
  ])('%s deeper than %i: %s', (text, max, expected) => {
    expect(exceedsJsonDepth(text, max)).toBe(expected);
  });

  it('lets the deepest JSON the service accepts through and refuses one level more', () => {
    expect(exceedsJsonDepth(nested(MAX_JSON_DEPTH))).toBe(false);
    expect(exceedsJsonDepth(nested(MAX_JSON_DEPTH + 1))).toBe(true);
  });
});

describe('deeply nested JSON', () => {
  const h = useHarness({ store: 'pglite' });
  const deep = nested(30_000);

  it.each([
    ['a field', `{"resource": ${deep}, "idempotency_key": "k"}`],
    ['an unknown key', `{"resource": "deployments", "idempotency_key": "k", "extra": ${deep}}`],
    ['the whole body', deep],
  ])('in %s of a REST body is a 422 (pydantic’s recursion limit), not a 500', async (_where, body) => {
    const res = await h.asWorker('/billing/reservations', {
      method: 'POST',
      headers: { 'tenant-id': await h.tenant('enterprise'), 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      detail: [
        {
          type: 'json_invalid',
          loc: ['body', 0],
          msg: 'JSON decode error',
          input: {},
          ctx: { error: 'recursion limit exceeded' },
        },
      ],
    });
  });

  it('is still checked after authentication', async () => {
    const res = await h.request('/billing/reservations', {
      method: 'POST',
      headers: { 'tenant-id': await h.tenant('enterprise') },
      body: deep,
    });
    expect(res.status).toBe(401);
  });

  it('is a 400 in tRPC’s envelope, in a query’s input and in a mutation’s body', async () => {
    const tenant = await h.tenant('enterprise');
    const viaQuery = await h.asWorker(
      `/trpc/billing.limits?input=${encodeURIComponent(`{"tenantId": ${nested(5_000, '"x"')}}`)}`,
    );
    expect(viaQuery.status).toBe(400);
    const viaBody = await h.asWorker('/trpc/billing.reserve', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"tenantId": "${tenant}", "resource": ${deep}, "idempotency_key": "k"}`,
    });
    expect(viaBody.status).toBe(400);
    for (const res of [viaQuery, viaBody]) {
      expect(await res.json()).toMatchObject({
        error: {
          message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels`,
          data: { code: 'BAD_REQUEST', httpStatus: 400 },
        },
      });
    }
  });

  it('leaves well-formed tRPC mutations alone (their body is read before tRPC reads it)', async () => {
    const res = await h.asWorker(trpcPath('billing.reserve'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        tenantId: await h.tenant('enterprise'),
        resource: 'deployments',
        idempotency_key: 'trpc-ok',
      }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ result: { data: { resource: 'deployments', quantity: 1 } } });
  });
});

describe('repeated headers over a real socket', () => {
  const h = useHarness();
  let server: DrainableServer;
  let token = '';
  beforeAll(async () => {
    server = await listen(h.app.fetch, { port: 0, hostname: '127.0.0.1' });
    token = await h.workerToken();
  });
  afterAll(() => server?.close(1_000));

  /** One raw HTTP/1.1 request; resolves with the status line and body. */
  function send(headerLines: string[]): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const socket = connect(server.address.port, '127.0.0.1');
      let received = '';
      socket.on('data', (chunk) => {
        received += chunk.toString('latin1');
      });
      socket.on('error', reject);
      socket.on('close', () => {
        const [head = '', body = ''] = received.split('\r\n\r\n');
        resolve({ status: Number(head.split(' ')[1]), body });
      });
      socket.write(
        ['GET /billing/limits HTTP/1.1', 'Host: x', 'Connection: close', ...headerLines, '', ''].join('\r\n'),
      );
    });
  }

  it('reads the first of two tenant-id headers, as FastAPI did', async () => {
    const { status, body } = await send([
      `Authorization: Bearer ${token}`,
      'tenant-id: org-first',
      'x-plan-type: growth',
      'tenant-id: org-second',
    ]);
    expect(status).toBe(200);
    expect(JSON.parse(body)).toMatchObject({ tenant_id: 'org-first', limits: { plan_type: 'growth' } });
  });

  it('reads the first of two x-plan-type headers, and validates it alone', async () => {
    const first = await send([
      `Authorization: Bearer ${token}`,
      'tenant-id: org-1',
      'x-plan-type: free',
      'x-plan-type: pro',
    ]);
    expect(JSON.parse(first.body)).toMatchObject({ limits: { plan_type: 'free' } });
    const bad = await send([
      `Authorization: Bearer ${token}`,
      'tenant-id: org-1',
      'x-plan-type: pro',
      'x-plan-type: free',
    ]);
    expect(bad.status).toBe(422);
  });

  it('uses the first Authorization header, as Node keeps only that one', async () => {
    const { status } = await send([
      `Authorization: Bearer ${token}`,
      'Authorization: Bearer forged',
      'tenant-id: org-1',
    ]);
    expect(status).toBe(200);
    const reversed = await send([
      'Authorization: Bearer forged',
      `Authorization: Bearer ${token}`,
      'tenant-id: org-1',
    ]);
    expect(reversed.status).toBe(401);
  });
});
