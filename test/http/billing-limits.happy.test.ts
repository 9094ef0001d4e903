import { describe, expect, it } from 'vitest';
import { engineToken, trpcPath, useHarness } from '../support/harness.js';

// Header mode without a store: exactly the original endpoint.
const h = useHarness();

const limits = (headers: Record<string, string>) => h.asWorker('/billing/limits', { headers });

describe('the original README, replayed', () => {
  // Its three curl lines, byte for byte.
  it.each([
    [
      'org-123',
      'free',
      '{"tenant_id":"org-123","limits":{"deployments":1,"self_hosted_workers":5,"plan_type":"free"}}',
    ],
    [
      'org-456',
      'growth',
      '{"tenant_id":"org-456","limits":{"deployments":5,"self_hosted_workers":null,"plan_type":"growth"}}',
    ],
    [
      'org-789',
      'enterprise',
      '{"tenant_id":"org-789","limits":{"deployments":null,"self_hosted_workers":null,"plan_type":"enterprise"}}',
    ],
  ])('curl for %s on %s', async (tenant, plan, body) => {
    const res = await limits({ 'tenant-id': tenant, 'x-plan-type': plan });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.text()).toBe(body);
  });

  it('its Python example: a fresh Engine token, org-123 on growth', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await engineToken({ ver: '1', aud: 'worker', iat: now, exp: now + 3600 });
    const res = await h.request('/billing/limits', {
      headers: { 'tenant-id': 'org-123', 'x-plan-type': 'growth', Authorization: `Bearer ${token}` },
    });
    expect(await res.json()).toEqual({
      tenant_id: 'org-123',
      limits: { deployments: 5, self_hosted_workers: null, plan_type: 'growth' },
    });
  });
});

describe('defaults', () => {
  it('treats a missing x-plan-type as free', async () => {
    expect(await (await limits({ 'tenant-id': 'org-1' })).text()).toBe(
      '{"tenant_id":"org-1","limits":{"deployments":1,"self_hosted_workers":5,"plan_type":"free"}}',
    );
  });

  it('echoes any valid tenant id, unicode included', async () => {
    const res = await limits({ 'tenant-id': 'org-ünïcödé', 'x-plan-type': 'growth' });
    expect(((await res.json()) as { tenant_id: string }).tenant_id).toBe('org-ünïcödé');
  });

  it('takes tenant-id from the header only, never from the query string', async () => {
    const res = await h.asWorker('/billing/limits?tenantId=org-from-query');
    expect(res.status).toBe(422);
  });
});

describe('REST and tRPC give the same answer', () => {
  it.each(['free', 'growth', 'enterprise'])('for %s', async (plan) => {
    const rest = await limits({ 'tenant-id': 'org-42', 'x-plan-type': plan });
    const trpc = await h.asWorker(trpcPath('billing.limits', { tenantId: 'org-42', planType: plan }));
    expect(trpc.status).toBe(200);
    expect(await trpc.json()).toEqual({ result: { data: await rest.json() } });
  });
});
