import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { PlanSummary } from '../../../src/contract/admin.js';
import type { ReservationList, TenantUsage } from '../../../src/contract/usage.js';
import {
  createHarness,
  STORE_KINDS,
  type StoreKind,
  trpcPath,
  unique,
  useHarness,
} from '../../support/harness.js';

describe.each(STORE_KINDS)('GET /admin/tenants/{tenantId}/usage on %s', (kind: StoreKind) => {
  const h = useHarness({ store: kind });

  const asEngine = (tenant: string, path: string, init: RequestInit = {}) =>
    h.asWorker(path, { ...init, headers: { 'tenant-id': tenant, 'content-type': 'application/json' } });
  const reserve = async (tenant: string, body: Record<string, unknown>) => {
    const res = await asEngine(tenant, '/billing/reservations', {
      method: 'POST',
      body: JSON.stringify({ idempotency_key: randomUUID(), ...body }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { reservation_id: string }).reservation_id;
  };
  const tenantUsage = async (tenant: string) => {
    const res = await h.asAdmin(`/admin/tenants/${encodeURIComponent(tenant)}/usage`);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as TenantUsage;
  };

  it("answers the tenant's usage as the Engine sees it, and its active reservations and leases, newest first", async () => {
    const tenant = await h.tenant('growth', { overrides: { deployments: 8 } });
    const first = await reserve(tenant, { resource: 'deployments', quantity: 2, reference: 'dep-1' });
    const released = await reserve(tenant, { resource: 'deployments' });
    const lease = await reserve(tenant, { resource: 'self_hosted_workers', quantity: 3, lease_seconds: 60 });
    expect((await asEngine(tenant, `/billing/reservations/${released}`, { method: 'DELETE' })).status).toBe(
      204,
    );

    const answer = await tenantUsage(tenant);
    expect(answer.usage).toEqual(await (await asEngine(tenant, '/billing/usage')).json());
    expect(answer.usage).toEqual({
      tenant_id: tenant,
      usage: {
        deployments: { used: 2, limit: 8, remaining: 6, overage: 0 },
        self_hosted_workers: { used: 3, limit: null, remaining: null, overage: 0 },
      },
    });
    const listed = (await (
      await asEngine(tenant, '/billing/reservations?state=active')
    ).json()) as ReservationList;
    expect(answer.reservations).toEqual(listed.reservations);
    expect(answer.reservations.map((r) => [r.reservation_id, r.release_reason])).toEqual([
      [lease, null],
      [first, null],
    ]);
    expect(answer.reservations[0]?.expires_at).toEqual(expect.any(String));
    expect(answer.reservations[1]).toMatchObject({ quantity: 2, reference: 'dep-1', expires_at: null });
  });

  it('shows at most 100 reservations, the newest', async () => {
    const tenant = await h.tenant('enterprise');
    const ids: string[] = [];
    for (let i = 0; i < 101; i++) ids.push(await reserve(tenant, { resource: 'deployments' }));
    const { usage, reservations } = await tenantUsage(tenant);
    expect(usage.usage.deployments.used).toBe(101);
    expect(reservations).toHaveLength(100);
    expect(new Set(reservations.map((r) => r.reservation_id))).not.toContain(ids[0]);
  });

  it('answers a tenant with no usage with zeros and no reservations, over REST and tRPC alike', async () => {
    const tenant = await h.tenant('free');
    const rest = await tenantUsage(tenant);
    expect(rest).toEqual({
      usage: {
        tenant_id: tenant,
        usage: {
          deployments: { used: 0, limit: 1, remaining: 1, overage: 0 },
          self_hosted_workers: { used: 0, limit: 5, remaining: 5, overage: 0 },
        },
      },
      reservations: [],
    });
    const res = await h.asAdmin(trpcPath('admin.getTenantUsage', { tenantId: tenant }));
    expect(await res.json()).toEqual({ result: { data: rest } });
  });

  it('answers 404 "Tenant not found" for a tenant the store does not know', async () => {
    const res = await h.asAdmin(`/admin/tenants/${unique('nobody')}/usage`);
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('{"detail":"Tenant not found"}');
  });
});

describe.each(STORE_KINDS)('GET /admin/plans with tenant counts on %s', (kind: StoreKind) => {
  it('counts the organizations on each plan through their customers, and follows a plan change', async () => {
    // A database of its own: the counts span every tenant.
    const h = await createHarness({ store: kind });
    const plans = async () => {
      const res = await h.asAdmin('/admin/plans');
      expect(res.status).toBe(200);
      return (await res.json()) as PlanSummary[];
    };
    const counts = async () => Object.fromEntries((await plans()).map((p) => [p.plan_id, p.tenant_count]));
    expect(await counts()).toEqual({ enterprise: 0, free: 0, growth: 0 });

    const customer = unique('cus');
    await h.tenant('growth', { customer_id: customer });
    await h.tenant('growth', { customer_id: customer });
    await h.tenant('free');
    await h.tenant('free');
    await h.tenant('free');
    expect(await counts()).toEqual({ enterprise: 0, free: 3, growth: 2 });
    expect((await plans()).find((p) => p.plan_id === 'free')).toEqual({
      plan_id: 'free',
      deployments: 1,
      self_hosted_workers: 5,
      soft_limits: {},
      orb_external_plan_id: 'free',
      tenant_count: 3,
    });

    // The shared customer moves to enterprise: both its organizations with it.
    await h.tenant('enterprise', { customer_id: customer });
    expect(await counts()).toEqual({ enterprise: 3, free: 3, growth: 0 });

    // setPlan still answers the plan alone.
    const set = await h.asAdmin('/admin/plans/free', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ deployments: 1, self_hosted_workers: 5 }),
    });
    expect(Object.keys((await set.json()) as object)).not.toContain('tenant_count');
  });
});
