import { describe, expect, it } from 'vitest';
import type { NearLimit } from '../../../src/contract/usage.js';
import { percentOf } from '../../../src/domain/usage/usage.js';
import { createHarness, type Harness, STORE_KINDS, type StoreKind, trpcPath } from '../../support/harness.js';

/** Byte order (UTF-8): how the listing breaks ties, by tenant id. */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('percentOf', () => {
  it('is used ÷ limit as a percentage, to one decimal', () => {
    expect(percentOf(4, 5)).toBe(80);
    expect(percentOf(2, 3)).toBe(66.7);
    expect(percentOf(1, 3)).toBe(33.3);
    expect(percentOf(799, 1000)).toBe(79.9);
    expect(percentOf(1_000_000_000, 1)).toBe(100_000_000_000);
  });

  it('counts any use of a limit of 0 as against a limit of 1', () => {
    expect(percentOf(2, 0)).toBe(200);
  });
});

describe.each(STORE_KINDS)('GET /admin/near-limits on %s', (kind: StoreKind) => {
  // Each test on a database of its own: the listing spans every tenant.
  const fresh = () => createHarness({ store: kind });

  const nearLimits = async (h: Harness, query: Record<string, string> = {}) => {
    const res = await h.asAdmin(`/admin/near-limits?${new URLSearchParams(query)}`);
    expect(res.status, await res.clone().text()).toBe(200);
    return ((await res.json()) as { tenants: NearLimit[] }).tenants;
  };

  /** A tenant on `plan` (with `overrides`) whose usage the Engine reports as `used`. */
  async function tenantUsing(
    h: Harness,
    plan: 'free' | 'growth' | 'enterprise',
    used: { deployments?: number; self_hosted_workers?: number },
    overrides: { deployments?: number | null; self_hosted_workers?: number | null } = {},
  ) {
    const tenant = await h.tenant(plan, { overrides });
    await h.store.usage.setUsage(tenant, used, 'test');
    return tenant;
  }

  it('lists usage at or past min_percent of finite effective limits, most used first, limit 0 before all', async () => {
    const h = await fresh();
    // free: 1 deployment, 5 workers; growth: 5 deployments, unlimited workers; enterprise: unlimited.
    const full = await tenantUsing(h, 'free', { deployments: 1, self_hosted_workers: 4 });
    const overridden = await tenantUsing(
      h,
      'growth',
      { deployments: 9, self_hosted_workers: 100 },
      { deployments: 10 },
    );
    const unlimited = await tenantUsing(
      h,
      'free',
      { deployments: 50, self_hosted_workers: 3 },
      { deployments: null },
    );
    const zero = await tenantUsing(h, 'free', { self_hosted_workers: 2 }, { self_hosted_workers: 0 });
    await tenantUsing(h, 'free', { deployments: 0 }, { deployments: 0 });
    const enterprise = await tenantUsing(
      h,
      'enterprise',
      { self_hosted_workers: 5, deployments: 1_000 },
      { self_hosted_workers: 4 },
    );
    const past = await tenantUsing(h, 'growth', { deployments: 7 });
    const justUnder = await tenantUsing(
      h,
      'free',
      { self_hosted_workers: 799 },
      { self_hosted_workers: 1_000 },
    );
    const alsoFull = await tenantUsing(h, 'growth', { deployments: 5 });
    await tenantUsing(h, 'enterprise', { deployments: 1_000_000_000 });
    const [firstFull, secondFull] = [full, alsoFull].sort(byteOrder);

    expect(await nearLimits(h)).toEqual([
      { tenant_id: zero, resource: 'self_hosted_workers', used: 2, limit: 0, percent: 200 },
      { tenant_id: past, resource: 'deployments', used: 7, limit: 5, percent: 140 },
      { tenant_id: enterprise, resource: 'self_hosted_workers', used: 5, limit: 4, percent: 125 },
      {
        tenant_id: firstFull,
        resource: 'deployments',
        used: firstFull === full ? 1 : 5,
        limit: firstFull === full ? 1 : 5,
        percent: 100,
      },
      {
        tenant_id: secondFull,
        resource: 'deployments',
        used: secondFull === full ? 1 : 5,
        limit: secondFull === full ? 1 : 5,
        percent: 100,
      },
      { tenant_id: overridden, resource: 'deployments', used: 9, limit: 10, percent: 90 },
      { tenant_id: full, resource: 'self_hosted_workers', used: 4, limit: 5, percent: 80 },
    ]);

    // Lower: 79.9 % and 60 % come in; the unlimited resources never do.
    const down = await nearLimits(h, { min_percent: '60' });
    expect(down.slice(-2)).toEqual([
      { tenant_id: justUnder, resource: 'self_hosted_workers', used: 799, limit: 1_000, percent: 79.9 },
      { tenant_id: unlimited, resource: 'self_hosted_workers', used: 3, limit: 5, percent: 60 },
    ]);
    expect(down).toHaveLength(9);
    // Higher: only what is past it, and any use of a limit of 0.
    expect(await nearLimits(h, { min_percent: '1000' })).toEqual([
      { tenant_id: zero, resource: 'self_hosted_workers', used: 2, limit: 0, percent: 200 },
    ]);
    expect(await nearLimits(h, { min_percent: '125' })).toHaveLength(3);
    // `limit` keeps the first of them.
    expect((await nearLimits(h, { limit: '2' })).map((entry) => entry.tenant_id)).toEqual([zero, past]);
  });

  it('orders equal ratios by tenant id, then resource, and applies a changed override at once', async () => {
    const h = await fresh();
    const a = await tenantUsing(h, 'free', { deployments: 1, self_hosted_workers: 5 });
    const b = await tenantUsing(h, 'growth', { deployments: 5 });
    const [first, second] = [a, b].sort(byteOrder);
    const rows = (await nearLimits(h)).map(({ tenant_id, resource }) => [tenant_id, resource]);
    const expected: string[][] = [];
    for (const tenant of [first, second]) {
      expected.push([tenant ?? '', 'deployments']);
      if (tenant === a) expected.push([a, 'self_hosted_workers']);
    }
    expect(rows).toEqual(expected);
    // An override lifts `a` out of the listing; a customer's plan change moves `b`.
    await h.store.tenants.putTenant(
      a,
      { overrides: { deployments: 100, self_hosted_workers: null } },
      'test',
    );
    await h.store.tenants.putTenant(b, { plan_id: 'enterprise' }, 'test');
    expect(await nearLimits(h)).toEqual([]);
  });

  it('answers an empty list when nothing is used, and over tRPC with defaults', async () => {
    const h = await fresh();
    await h.tenant('free');
    expect(await nearLimits(h)).toEqual([]);
    const tenant = await tenantUsing(h, 'free', { deployments: 1 });
    const res = await h.asAdmin(trpcPath('admin.listNearLimits', {}));
    expect(await res.json()).toEqual({
      result: {
        data: { tenants: [{ tenant_id: tenant, resource: 'deployments', used: 1, limit: 1, percent: 100 }] },
      },
    });
  });
});
