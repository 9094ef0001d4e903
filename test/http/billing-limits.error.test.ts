import { describe, expect, it } from 'vitest';
import { trpcPath, useHarness } from '../support/harness.js';

const h = useHarness();

const limits = (headers: Record<string, string>) => h.asWorker('/billing/limits', { headers });

const MISSING_TENANT = '{"type":"missing","loc":["header","tenant-id"],"msg":"Field required","input":null}';
const badPlan = (input: string) =>
  `{"type":"enum","loc":["header","x-plan-type"],"msg":"Input should be 'free', 'growth' or 'enterprise'","input":${JSON.stringify(input)},"ctx":{"expected":"'free', 'growth' or 'enterprise'"}}`;

describe('422 bodies, in pydantic v2 shape, one entry per failing header in header order', () => {
  it.each([
    ['no tenant-id', {}, `{"detail":[${MISSING_TENANT}]}`],
    ['an unknown plan', { 'tenant-id': 'org-1', 'x-plan-type': 'pro' }, `{"detail":[${badPlan('pro')}]}`],
    [
      'a plan in another case',
      { 'tenant-id': 'org-1', 'x-plan-type': 'Growth' },
      `{"detail":[${badPlan('Growth')}]}`,
    ],
    ['an empty plan', { 'tenant-id': 'org-1', 'x-plan-type': '' }, `{"detail":[${badPlan('')}]}`],
    ['both headers bad', { 'x-plan-type': 'pro' }, `{"detail":[${MISSING_TENANT},${badPlan('pro')}]}`],
    [
      'an empty tenant-id',
      { 'tenant-id': '' },
      '{"detail":[{"type":"string_too_short","loc":["header","tenant-id"],"msg":"String should have at least 1 character","input":"","ctx":{"min_length":1}}]}',
    ],
  ])('%s', async (_, headers, body) => {
    const res = await limits(headers);
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.text()).toBe(body);
  });

  it('a tenant-id over 255 characters', async () => {
    const long = 'o'.repeat(256);
    const res = await limits({ 'tenant-id': long });
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      detail: [
        {
          type: 'string_too_long',
          loc: ['header', 'tenant-id'],
          msg: 'String should have at most 255 characters',
          input: long,
          ctx: { max_length: 255 },
        },
      ],
    });
  });
});

describe('tRPC input errors', () => {
  it('answer 400 with the same issues, located in the input', async () => {
    const res = await h.asWorker(trpcPath('billing.limits', { planType: 'pro' }));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { data: { code: string; detail: { loc: string[] }[] } } };
    expect(body.error.data.code).toBe('BAD_REQUEST');
    expect(body.error.data.detail.map((issue) => issue.loc)).toEqual([
      ['input', 'tenantId'],
      ['input', 'planType'],
    ]);
  });
});

describe('other requests', () => {
  it('answer another method on the route with 405, in FastAPI words', async () => {
    const res = await h.request('/billing/limits', { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET');
    expect(await res.text()).toBe('{"detail":"Method Not Allowed"}');
  });

  it('name every method of a path with more than one in Allow', async () => {
    const res = await h.request('/admin/tenants/org-a', { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, PUT');
  });

  it('answer a path no route has with 404, in FastAPI words', async () => {
    const res = await h.request('/billing/nothing');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ detail: 'Not Found' });
  });
});
