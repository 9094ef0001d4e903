import { and, desc, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { auditLog, organizationToAccount, plan } from '../../src/db/schema.js';
import { DomainError } from '../../src/domain/errors.js';
import { heardAfter } from '../support/eventually.js';
import { createHarness, STORE_KINDS, type StoreKind, unique, useHarness } from '../support/harness.js';

describe.each(STORE_KINDS)('the tenant store on %s', (kind: StoreKind) => {
  // One database for the file; each test works on tenants of its own.
  const h = useHarness({ store: kind });
  const tenants = () => h.store.tenants;

  const auditEntries = (subjectId: string) =>
    h.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.subjectId, subjectId)))
      .orderBy(desc(auditLog.id));

  it('holds the original plan catalog after migration', async () => {
    expect(await tenants().listPlans()).toEqual([
      {
        plan_id: 'enterprise',
        deployments: null,
        self_hosted_workers: null,
        soft_limits: {},
        orb_external_plan_id: 'enterprise',
      },
      {
        plan_id: 'free',
        deployments: 1,
        self_hosted_workers: 5,
        soft_limits: {},
        orb_external_plan_id: 'free',
      },
      {
        plan_id: 'growth',
        deployments: 5,
        self_hosted_workers: null,
        soft_limits: {},
        orb_external_plan_id: 'growth',
      },
    ]);
  });

  it('creates a tenant with a customer of its own id and audits it', async () => {
    const ORG_A = unique('org-a');
    const { before, after, change } = await tenants().putTenant(ORG_A, { plan_id: 'growth' }, 'alice');
    expect(before).toBeUndefined();
    expect(after).toEqual({
      tenantId: ORG_A,
      customerId: ORG_A,
      planId: 'growth',
      plan: { deployments: 5, self_hosted_workers: null },
      overrides: {},
      planSoftLimits: {},
      softLimitOverrides: {},
    });
    expect(change).toEqual({ tenants: [ORG_A] });
    const [entry] = await auditEntries(ORG_A);
    expect(entry).toMatchObject({
      actor: 'alice',
      action: 'tenant.put',
      subjectType: 'tenant',
      subjectId: ORG_A,
      before: null,
    });
    expect(entry?.after).toMatchObject({ planId: 'growth' });
  });

  it('stores the three override states and reads them back', async () => {
    const ORG_B = unique('org-b');
    await tenants().putTenant(ORG_B, { plan_id: 'free', overrides: { deployments: 3 } }, 'alice');
    const { after } = await tenants().putTenant(ORG_B, { overrides: { self_hosted_workers: null } }, 'alice');
    // `overrides` replaces: deployments inherits again (no key at all), workers are unlimited.
    expect(after.overrides).toStrictEqual({ self_hosted_workers: null });
    const kept = await tenants().putTenant(ORG_B, { plan_id: 'growth' }, 'alice');
    expect(kept.after.overrides).toStrictEqual({ self_hosted_workers: null });
    expect((await tenants().findTenant(ORG_B))?.overrides).toStrictEqual({ self_hosted_workers: null });
  });

  it('refuses a new customer without a plan, writing nothing', async () => {
    const ORG_C = unique('org-c');
    const refused = tenants().putTenant(ORG_C, {}, 'alice');
    await expect(refused).rejects.toBeInstanceOf(DomainError);
    await expect(refused).rejects.toMatchObject({
      code: 'plan_required',
      message: `Customer ${ORG_C} does not exist: plan_id is required`,
    });
    expect(await tenants().findTenant(ORG_C)).toBeUndefined();
    expect(await auditEntries(ORG_C)).toHaveLength(0);
  });

  it('shares a customer’s plan between its organizations, and reports both as changed', async () => {
    const ORG_D1 = unique('org-d1');
    const ORG_D2 = unique('org-d2');
    const CUS_D = unique('cus-d');
    await tenants().putTenant(ORG_D1, { plan_id: 'free', customer_id: CUS_D }, 'alice');
    const joined = await tenants().putTenant(ORG_D2, { customer_id: CUS_D }, 'alice');
    expect(joined.after.planId).toBe('free');
    const upgraded = await tenants().putTenant(ORG_D2, { plan_id: 'enterprise' }, 'alice');
    expect(upgraded.change).toEqual({ tenants: expect.arrayContaining([ORG_D1, ORG_D2]) });
    expect((await tenants().findTenant(ORG_D1))?.planId).toBe('enterprise');
    // Naming the plan the customer already has changes no one else's answer.
    const same = await tenants().putTenant(
      ORG_D2,
      { plan_id: 'enterprise', overrides: { deployments: 2 } },
      'alice',
    );
    expect(same.change).toEqual({ tenants: [ORG_D2] });
  });

  it('keeps soft-limit overrides a write leaves out, and replaces them when given', async () => {
    const ORG_L = unique('org-l');
    const soft = { deployments: { overage_cap: 2 } };
    await tenants().putTenant(ORG_L, { plan_id: 'growth', soft_limits: soft }, 'alice');
    const kept = await tenants().putTenant(ORG_L, { overrides: { deployments: 7 } }, 'alice');
    expect(kept.after.softLimitOverrides).toEqual(soft);
    const replaced = await tenants().putTenant(
      ORG_L,
      { soft_limits: { self_hosted_workers: null } },
      'alice',
    );
    expect(replaced.after.softLimitOverrides).toEqual({ self_hosted_workers: null });
    expect(replaced.after.overrides).toEqual({ deployments: 7 });
  });

  it('clears overrides, and says when the tenant does not exist', async () => {
    const ORG_E = unique('org-e');
    await tenants().putTenant(ORG_E, { plan_id: 'free', overrides: { deployments: 9 } }, 'alice');
    const cleared = await tenants().clearOverrides(ORG_E, 'bob');
    expect(cleared?.before?.overrides).toEqual({ deployments: 9 });
    expect(cleared?.after.overrides).toEqual({});
    expect(cleared?.change).toEqual({ tenants: [ORG_E] });
    expect(await tenants().clearOverrides(unique('org-none'), 'bob')).toBeUndefined();
    expect((await auditEntries(ORG_E))[0]).toMatchObject({ actor: 'bob', action: 'tenant.clear_overrides' });
  });

  it('updates a plan for everyone, with an audit entry', async () => {
    // The catalog is every tenant's: this test changes it on a database of its own.
    const own = await createHarness({ store: kind });
    const written = await own.store.tenants.updatePlan(
      'growth',
      { deployments: 8, self_hosted_workers: 50 },
      'ops',
    );
    expect(written?.before).toMatchObject({ plan_id: 'growth', deployments: 5, self_hosted_workers: null });
    expect(written?.after).toEqual({
      plan_id: 'growth',
      deployments: 8,
      self_hosted_workers: 50,
      soft_limits: {},
      orb_external_plan_id: 'growth',
    });
    expect(written?.change).toEqual({ all: true });
    const [entry] = await own.db
      .select()
      .from(auditLog)
      .where(eq(auditLog.subjectId, 'growth'))
      .orderBy(desc(auditLog.id));
    expect(entry).toMatchObject({ actor: 'ops', action: 'plan.update', subjectType: 'plan' });
    expect((await own.store.tenants.listPlans()).find((p) => p.plan_id === 'growth')).toMatchObject({
      deployments: 8,
      self_hosted_workers: 50,
    });
  });

  it('maps an Orb plan id to one plan only; leaving it out keeps it, null unmaps it', async () => {
    const own = await createHarness({ store: kind });
    const plans = own.store.tenants;
    const limits = { deployments: 5, self_hosted_workers: null };
    expect(await plans.updatePlan('no-such-plan' as 'free', limits, 'ops')).toBeUndefined();
    const taken = plans.updatePlan('growth', { ...limits, orb_external_plan_id: 'free' }, 'ops');
    await expect(taken).rejects.toMatchObject({ code: 'orb_plan_already_mapped', facts: { planId: 'free' } });
    const again = await plans.updatePlan('growth', { ...limits, orb_external_plan_id: 'growth' }, 'ops');
    expect(again?.after.orb_external_plan_id).toBe('growth');
    const soft = { deployments: { overage_cap: 3 } };
    const kept = await plans.updatePlan('growth', { ...limits, soft_limits: soft }, 'ops');
    expect(kept?.after).toMatchObject({ orb_external_plan_id: 'growth', soft_limits: soft });
    const unmapped = await plans.updatePlan('growth', { ...limits, orb_external_plan_id: null }, 'ops');
    expect(unmapped?.after).toMatchObject({ orb_external_plan_id: null, soft_limits: soft });
    // Once unmapped, another plan may take the id.
    const moved = await plans.updatePlan(
      'free',
      { deployments: 1, self_hosted_workers: 5, orb_external_plan_id: 'growth' },
      'ops',
    );
    expect(moved?.after.orb_external_plan_id).toBe('growth');
  });

  it('seeds only once, even after the seeded tenants change', async () => {
    const ORG_S = unique('org-s');
    const seeded = [{ tenantId: ORG_S, planId: 'free' as const }];
    const seed = unique('seed');
    const seeding = await heardAfter(
      h.store,
      () => tenants().seedOnce(seed, seeded),
      () => ORG_S,
    );
    expect(seeding.result).toBe(true);
    expect(seeding.heard).toContainEqual({ tenants: [ORG_S] });
    expect(await auditEntries(seed)).toMatchObject([
      { actor: 'seed', action: 'seed', subjectType: 'seed', before: null, after: seeded },
    ]);
    await tenants().putTenant(ORG_S, { plan_id: 'growth' }, 'alice');
    expect(await tenants().seedOnce(seed, seeded)).toBe(false);
    expect((await tenants().findTenant(ORG_S))?.planId).toBe('growth');
  });

  it('loses no update when writers race on one tenant: last writer wins, every write audited', async () => {
    const ORG_R = unique('org-r');
    await tenants().putTenant(ORG_R, { plan_id: 'free' }, 'setup');
    const writes = Array.from({ length: 10 }, (_, i) =>
      tenants().putTenant(ORG_R, { overrides: { deployments: i } }, `writer-${i}`),
    );
    const results = await Promise.all(writes);
    const entries = (await auditEntries(ORG_R)).filter((e) => e.actor.startsWith('writer-'));
    expect(entries).toHaveLength(10);
    // Each write saw the one before it: the audit entries chain, before → after, without a gap.
    const ordered = [...entries].reverse();
    for (let i = 1; i < ordered.length; i++) {
      expect(ordered[i]?.before).toEqual(ordered[i - 1]?.after);
    }
    const final = await tenants().findTenant(ORG_R);
    const last = ordered.at(-1)?.after as { overrides: unknown } | undefined;
    expect(final?.overrides).toEqual(last?.overrides);
    expect(results).toHaveLength(10);
  });

  it('tells its subscribers what each committed write changed', async () => {
    const ORG_N = unique('org-n');
    const write = () => tenants().putTenant(ORG_N, { plan_id: 'free' }, 'alice');
    const { heard } = await heardAfter(h.store, write, () => ORG_N);
    expect(heard).toContainEqual({ tenants: [ORG_N] });
  });

  it('keeps the CHECK constraints: no negative limits, no number together with "unlimited"', async () => {
    const ORG_K = unique('org-k');
    await expect(h.db.update(plan).set({ deployments: -1 }).where(eq(plan.id, 'free'))).rejects.toThrow();
    await tenants().putTenant(ORG_K, { plan_id: 'free' }, 'alice');
    await expect(
      h.db
        .update(organizationToAccount)
        .set({ deploymentAllowance: 3, deploymentUnlimited: true })
        .where(eq(organizationToAccount.organizationId, ORG_K)),
    ).rejects.toThrow();
  });
});
