import { describe, expect, it } from 'vitest';
import type { PlanView } from '../../../src/contract/admin.js';
import type { PlanType } from '../../../src/contract/plans.js';
import type { TenantRecord } from '../../../src/domain/limits/effective-limits.js';
import { createLimitsSource, type LimitsAnswer } from '../../../src/domain/limits/limits-source.js';
import { testClock } from '../../support/harness.js';

/** A store held in memory, counting its reads: what the source asks of it, and how often. */
function storeOf(
  tenants: Record<string, { planId: PlanType; deployments?: number | null }>,
  plans: PlanView[] = [],
) {
  const reads = { tenants: [] as string[], plans: 0 };
  const planOf = (planId: PlanType) =>
    plans.find((plan) => plan.plan_id === planId) ?? { deployments: 1, self_hosted_workers: 5 };
  return {
    reads,
    plans,
    async findTenant(tenantId: string): Promise<TenantRecord | undefined> {
      reads.tenants.push(tenantId);
      const tenant = tenants[tenantId];
      if (!tenant) return undefined;
      const plan = planOf(tenant.planId);
      return {
        tenantId,
        customerId: `customer-of-${tenantId}`,
        planId: tenant.planId,
        plan: { deployments: plan.deployments, self_hosted_workers: plan.self_hosted_workers },
        overrides: tenant.deployments === undefined ? {} : { deployments: tenant.deployments },
        planSoftLimits: {},
        softLimitOverrides: {},
      };
    },
    async listPlans() {
      reads.plans++;
      return plans;
    },
  };
}

const plan = (
  plan_id: PlanType,
  deployments: number | null,
  self_hosted_workers: number | null,
): PlanView => ({
  plan_id,
  deployments,
  self_hosted_workers,
  soft_limits: {},
  orb_external_plan_id: null,
});

const isPromise = (value: unknown) => value instanceof Promise;

describe('the limits source in database mode', () => {
  it('needs a store', () => {
    expect(() => createLimitsSource({ mode: 'database' })).toThrow('the database plan source needs a store');
  });

  it("answers the tenant's plan ⊕ its overrides, from memory (no promise) once read", async () => {
    const store = storeOf({ 'org-1': { planId: 'growth', deployments: 9 } }, [plan('growth', 5, null)]);
    const source = createLimitsSource({ mode: 'database', store, now: testClock().now });
    const query = { tenantId: 'org-1', planType: 'free' as const }; // the header's plan is not trusted
    const first = source.answer(query);
    expect(isPromise(first)).toBe(true);
    expect(await first).toEqual({
      tenant_id: 'org-1',
      limits: { deployments: 9, self_hosted_workers: null, plan_type: 'growth' },
    });
    const cached = source.answer(query);
    expect(isPromise(cached)).toBe(false);
    expect(cached).toBe(await first);
    expect(Object.isFrozen(cached)).toBe(true);
    expect(Object.isFrozen((cached as LimitsAnswer).limits)).toBe(true);
    expect(store.reads.tenants).toEqual(['org-1']);
  });

  it('refuses an unknown tenant, from memory too', async () => {
    const store = storeOf({});
    const source = createLimitsSource({ mode: 'database', store, now: testClock().now });
    const notFound = { name: 'DomainError', code: 'tenant_not_found' };
    await expect(source.answer({ tenantId: 'nobody', planType: 'free' })).rejects.toMatchObject(notFound);
    await expect(source.answer({ tenantId: 'nobody', planType: 'free' })).rejects.toMatchObject(notFound);
    expect(store.reads.tenants).toEqual(['nobody']);
  });

  it("forgets the changed tenants' answers, or all of them", async () => {
    const store = storeOf({ a: { planId: 'free' }, b: { planId: 'free' } });
    const source = createLimitsSource({ mode: 'database', store, now: testClock().now });
    const answerOf = (tenantId: string) => source.answer({ tenantId, planType: 'free' });
    await answerOf('a');
    await answerOf('b');
    source.apply({ tenants: ['a'] });
    await answerOf('a');
    await answerOf('b');
    expect(store.reads.tenants).toEqual(['a', 'b', 'a']);
    source.apply({ all: true });
    await answerOf('a');
    await answerOf('b');
    expect(store.reads.tenants).toEqual(['a', 'b', 'a', 'a', 'b']);
  });
});

describe('the limits source in header mode', () => {
  it("answers the caller's plan from the built-in catalog without a store", async () => {
    const source = createLimitsSource({ mode: 'header' });
    expect(await source.answer({ tenantId: 'org-1', planType: 'growth' })).toEqual({
      tenant_id: 'org-1',
      limits: { deployments: 5, self_hosted_workers: null, plan_type: 'growth' },
    });
  });

  it('answers from the catalog it is given, and keeps it through any change', async () => {
    const catalog = {
      free: { deployments: 2, self_hosted_workers: 3 },
      growth: { deployments: 20, self_hosted_workers: 30 },
      enterprise: { deployments: null, self_hosted_workers: null },
    };
    const source = createLimitsSource({ mode: 'header', catalog });
    source.apply({ all: true });
    source.apply({ tenants: ['org-1'] });
    expect((await source.answer({ tenantId: 'org-1', planType: 'free' })).limits).toEqual({
      deployments: 2,
      self_hosted_workers: 3,
      plan_type: 'free',
    });
  });

  it("reads the store's plan table; a plan missing from it falls back to the built-in row", async () => {
    const store = storeOf({}, [plan('free', 7, 8)]);
    const source = createLimitsSource({ mode: 'header', store, now: testClock().now });
    expect((await source.answer({ tenantId: 'org-1', planType: 'free' })).limits).toEqual({
      deployments: 7,
      self_hosted_workers: 8,
      plan_type: 'free',
    });
    expect((await source.answer({ tenantId: 'org-1', planType: 'growth' })).limits).toEqual({
      deployments: 5,
      self_hosted_workers: null,
      plan_type: 'growth',
    });
    expect(store.reads.plans).toBe(1);
    expect(store.reads.tenants).toEqual([]); // the tenant's own row is not header mode's business
  });

  it('gives the same frozen answer while the catalog is the same, and a new one after a plan change', async () => {
    const store = storeOf({}, [plan('free', 7, 8)]);
    const source = createLimitsSource({ mode: 'header', store, now: testClock().now });
    const query = { tenantId: 'org-1', planType: 'free' as const };
    const first = await source.answer(query);
    expect(await source.answer(query)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(await source.answer({ tenantId: 'org-2', planType: 'free' })).not.toBe(first);

    source.apply({ tenants: ['org-1'] }); // a tenant's overrides: not header mode's answer
    expect(await source.answer(query)).toBe(first);
    expect(store.reads.plans).toBe(1);

    store.plans[0] = plan('free', 70, 80);
    source.apply({ all: true });
    const after = await source.answer(query);
    expect(after).not.toBe(first);
    expect(after.limits).toEqual({ deployments: 70, self_hosted_workers: 80, plan_type: 'free' });
    expect(store.reads.plans).toBe(2);
  });
});
