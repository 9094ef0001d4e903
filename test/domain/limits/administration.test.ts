import { describe, expect, it } from 'vitest';
import type { PlanView } from '../../../src/contract/admin.js';
import { createAdministration } from '../../../src/domain/limits/administration.js';
import type { LimitsChange } from '../../../src/domain/limits/changes.js';
import type { TenantRecord } from '../../../src/domain/limits/effective-limits.js';
import type { TenantStore } from '../../../src/domain/limits/tenant-store.js';

const record: TenantRecord = {
  tenantId: 'org-1',
  customerId: 'customer-1',
  planId: 'free',
  plan: { deployments: 1, self_hosted_workers: 5 },
  overrides: {},
  planSoftLimits: {},
  softLimitOverrides: {},
};
const freePlan: PlanView = {
  plan_id: 'free',
  deployments: 2,
  self_hosted_workers: 5,
  soft_limits: {},
  orb_external_plan_id: null,
};

/** A store that knows `org-1` and the plans given; every write changes what it says it changed. */
function storeWith(plans: PlanView[]): TenantStore {
  return {
    findTenant: async (tenantId) => (tenantId === 'org-1' ? record : undefined),
    listPlans: async () => plans,
    updatePlan: async (planId) => {
      const after = plans.find((plan) => plan.plan_id === planId);
      return after && { before: after, after, change: { all: true } };
    },
    putTenant: async (tenantId) => ({
      before: undefined,
      after: { ...record, tenantId },
      change: { tenants: [tenantId] },
    }),
    clearOverrides: async (tenantId) =>
      tenantId === 'org-1' ? { before: record, after: record, change: { tenants: ['org-1'] } } : undefined,
    seedOnce: async () => false,
    planSummaries: async () => plans.map((plan) => ({ ...plan, tenant_count: 1 })),
    listTenants: async () => ({ tenants: [record], next: null }),
    listAudit: async () => ({ entries: [], next: null }),
  };
}

function administrationOver(plans: PlanView[]) {
  const applied: LimitsChange[] = [];
  return {
    administration: createAdministration(storeWith(plans), (change) => applied.push(change)),
    applied,
  };
}

const notFound = { name: 'DomainError', code: 'tenant_not_found' };

describe('administration', () => {
  it('shows a tenant, and refuses one the store does not know', async () => {
    const { administration } = administrationOver([]);
    expect(await administration.showTenant('org-1')).toBe(record);
    await expect(administration.showTenant('org-2')).rejects.toMatchObject(notFound);
  });

  it("applies each write's change to this replica's answers", async () => {
    const { administration, applied } = administrationOver([freePlan]);
    await administration.putTenant('org-3', { plan_id: 'growth' }, 'test');
    await administration.clearOverrides('org-1', 'test');
    await administration.setPlan('free', { deployments: 2, self_hosted_workers: 5 }, 'test');
    expect(applied).toEqual([{ tenants: ['org-3'] }, { tenants: ['org-1'] }, { all: true }]);
  });

  it('refuses to clear the overrides of a tenant the store does not know, changing nothing', async () => {
    const { administration, applied } = administrationOver([]);
    await expect(administration.clearOverrides('org-2', 'test')).rejects.toMatchObject(notFound);
    expect(applied).toEqual([]);
  });

  it('fails loudly when a plan row is missing from the catalog table', async () => {
    const { administration, applied } = administrationOver([]);
    await expect(
      administration.setPlan('growth', { deployments: 2, self_hosted_workers: 5 }, 'test'),
    ).rejects.toThrow('plan growth is missing from the catalog table');
    expect(applied).toEqual([]);
  });
});
