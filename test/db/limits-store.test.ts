import { randomUUID } from 'node:crypto';
import { and, desc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog } from '../../src/db/schema.js';
import { DomainError } from '../../src/limits/errors.js';
import type { LimitsChange } from '../../src/limits/limits-store.js';
import { openTestDatabase, STORE_KINDS, type TestDatabase } from '../support/test-store.js';

async function eventually(check: () => void, timeoutMs = 1000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

describe.each(STORE_KINDS)('the limits store on %s', (kind) => {
  // One database for the file; each test works on tenants of its own.
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openTestDatabase(kind);
  });
  afterAll(() => database?.close());

  const unique = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;
  const auditEntries = (subjectId: string) =>
    database.handle.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.subjectId, subjectId)))
      .orderBy(desc(auditLog.id));

  it('holds the original plan catalog after migration', async () => {
    expect(await database.store.listPlans()).toEqual([
      {
        id: 'enterprise',
        deployments: null,
        self_hosted_workers: null,
        softLimits: {},
        orbExternalPlanId: 'enterprise',
      },
      { id: 'free', deployments: 1, self_hosted_workers: 5, softLimits: {}, orbExternalPlanId: 'free' },
      {
        id: 'growth',
        deployments: 5,
        self_hosted_workers: null,
        softLimits: {},
        orbExternalPlanId: 'growth',
      },
    ]);
  });

  it('creates a tenant with a customer of its own id and audits it', async () => {
    const ORG_A = unique('org-a');
    const { before, after, change } = await database.store.putTenant(ORG_A, { planId: 'growth' }, 'alice');
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
    expect(entry).toMatchObject({ actor: 'alice', action: 'tenant.put', subjectId: ORG_A, before: null });
    expect(entry?.after).toMatchObject({ planId: 'growth' });
  });

  it('stores the three override states and reads them back', async () => {
    const ORG_B = unique('org-b');
    await database.store.putTenant(ORG_B, { planId: 'free', overrides: { deployments: 3 } }, 'alice');
    const { after } = await database.store.putTenant(
      ORG_B,
      { overrides: { self_hosted_workers: null } },
      'alice',
    );
    // `overrides` replaces: deployments inherits again, workers are unlimited.
    expect(after.overrides).toEqual({ self_hosted_workers: null });
    const kept = await database.store.putTenant(ORG_B, { planId: 'growth' }, 'alice');
    expect(kept.after.overrides).toEqual({ self_hosted_workers: null });
  });

  it('refuses a new customer without a plan, writing nothing', async () => {
    const ORG_C = unique('org-c');
    await expect(database.store.putTenant(ORG_C, {}, 'alice')).rejects.toBeInstanceOf(DomainError);
    expect(await database.store.findTenant(ORG_C)).toBeUndefined();
    expect(await auditEntries(ORG_C)).toHaveLength(0);
  });

  it('shares a customer’s plan between its organizations, and reports both as changed', async () => {
    const ORG_D1 = unique('org-d1');
    const ORG_D2 = unique('org-d2');
    const CUS_D = unique('cus-d');
    await database.store.putTenant(ORG_D1, { planId: 'free', customerId: CUS_D }, 'alice');
    const joined = await database.store.putTenant(ORG_D2, { customerId: CUS_D }, 'alice');
    expect(joined.after.planId).toBe('free');
    const upgraded = await database.store.putTenant(ORG_D2, { planId: 'enterprise' }, 'alice');
    expect(upgraded.change).toEqual({ tenants: expect.arrayContaining([ORG_D1, ORG_D2]) });
    expect((await database.store.findTenant(ORG_D1))?.planId).toBe('enterprise');
  });

  it('clears overrides, and says when the tenant does not exist', async () => {
    const ORG_E = unique('org-e');
    await database.store.putTenant(ORG_E, { planId: 'free', overrides: { deployments: 9 } }, 'alice');
    const cleared = await database.store.clearOverrides(ORG_E, 'bob');
    expect(cleared?.before?.overrides).toEqual({ deployments: 9 });
    expect(cleared?.after.overrides).toEqual({});
    expect(await database.store.clearOverrides('org-none', 'bob')).toBeUndefined();
    expect((await auditEntries(ORG_E))[0]).toMatchObject({ actor: 'bob', action: 'tenant.clear_overrides' });
  });

  it('updates a plan for everyone, with an audit entry', async () => {
    const written = await database.store.updatePlan(
      'growth',
      { deployments: 8, self_hosted_workers: 50 },
      'ops',
    );
    expect(written?.before).toMatchObject({ deployments: 5, self_hosted_workers: null });
    expect(written?.after).toMatchObject({ deployments: 8, self_hosted_workers: 50 });
    expect(written?.change).toEqual({ all: true });
    expect((await auditEntries('growth'))[0]).toMatchObject({ actor: 'ops', action: 'plan.update' });
    // Put the catalog back: the other tests of this file share the database.
    await database.store.updatePlan('growth', { deployments: 5, self_hosted_workers: null }, 'ops');
  });

  it('seeds only once, even after the seeded tenants change', async () => {
    const ORG_S = unique('org-s');
    const tenants = [{ tenantId: ORG_S, planId: 'free' as const }];
    const seed = unique('seed');
    expect(await database.store.seedOnce(seed, tenants)).toBe(true);
    await database.store.putTenant(ORG_S, { planId: 'growth' }, 'alice');
    expect(await database.store.seedOnce(seed, tenants)).toBe(false);
    expect((await database.store.findTenant(ORG_S))?.planId).toBe('growth');
  });

  it('loses no update when writers race on one tenant: last writer wins, every write audited', async () => {
    const ORG_R = unique('org-r');
    await database.store.putTenant(ORG_R, { planId: 'free' }, 'setup');
    const writes = Array.from({ length: 10 }, (_, i) =>
      database.store.putTenant(ORG_R, { overrides: { deployments: i } }, `writer-${i}`),
    );
    const results = await Promise.all(writes);
    const entries = (await auditEntries(ORG_R)).filter((e) => e.actor.startsWith('writer-'));
    expect(entries).toHaveLength(10);
    // Each write saw the one before it: the audit entries chain, before → after, without a gap.
    const ordered = [...entries].reverse();
    for (let i = 1; i < ordered.length; i++) {
      expect(ordered[i]?.before).toEqual(ordered[i - 1]?.after);
    }
    const final = await database.store.findTenant(ORG_R);
    const last = ordered.at(-1)?.after as { overrides: unknown } | undefined;
    expect(final?.overrides).toEqual(last?.overrides);
    expect(results).toHaveLength(10);
  });

  it('tells its subscribers what each committed write changed', async () => {
    const ORG_N = unique('org-n');
    const seen: LimitsChange[] = [];
    database.store.subscribe((change) => seen.push(change));
    await database.store.putTenant(ORG_N, { planId: 'free' }, 'alice');
    await eventually(() => expect(seen).toContainEqual({ tenants: [ORG_N] }));
  });

  it('keeps the CHECK constraints: no negative limits, no number together with "unlimited"', async () => {
    const ORG_K = unique('org-k');
    const { db } = database.handle;
    const { organizationToAccount, plan } = await import('../../src/db/schema.js');
    await expect(db.update(plan).set({ deployments: -1 }).where(eq(plan.id, 'free'))).rejects.toThrow();
    await database.store.putTenant(ORG_K, { planId: 'free' }, 'alice');
    await expect(
      db
        .update(organizationToAccount)
        .set({ deploymentAllowance: 3, deploymentUnlimited: true })
        .where(eq(organizationToAccount.organizationId, ORG_K)),
    ).rejects.toThrow();
  });
});
