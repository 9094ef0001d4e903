import { describe, expect, it } from 'vitest';
import { resourcePolicy, type TenantRecord } from '../../../src/domain/limits/effective-limits.js';
import { ceilingOf, remainingOf, softPolicy } from '../../../src/domain/limits/usage-policy.js';

describe('a resource ceiling', () => {
  it('is the limit when hard, the limit plus the cap when soft, none when unlimited or uncapped', () => {
    expect(ceilingOf({ limit: 5, soft: null })).toBe(5);
    expect(ceilingOf({ limit: 5, soft: { overage_cap: 3 } })).toBe(8);
    expect(ceilingOf({ limit: 5, soft: { overage_cap: 0 } })).toBe(5);
    expect(ceilingOf({ limit: 5, soft: { overage_cap: null } })).toBeNull();
    expect(ceilingOf({ limit: null, soft: null })).toBeNull();
    expect(ceilingOf({ limit: null, soft: { overage_cap: 3 } })).toBeNull();
    expect(ceilingOf({ limit: 0, soft: null })).toBe(0);
  });
});

describe('a soft-limit policy', () => {
  const plan = { deployments: { overage_cap: 3 } };

  it("is the plan's when the tenant has none of its own; a resource the plan doesn't list is hard", () => {
    expect(softPolicy(plan, {}, 'deployments')).toEqual({ overage_cap: 3 });
    expect(softPolicy(plan, {}, 'self_hosted_workers')).toBeNull();
  });

  it("is the tenant's own when set, `null` (hard) included", () => {
    expect(softPolicy(plan, { deployments: { overage_cap: 10 } }, 'deployments')).toEqual({
      overage_cap: 10,
    });
    expect(softPolicy(plan, { deployments: null }, 'deployments')).toBeNull();
    expect(softPolicy({}, { self_hosted_workers: { overage_cap: null } }, 'self_hosted_workers')).toEqual({
      overage_cap: null,
    });
  });
});

describe('what is left under a limit', () => {
  it('is the difference, never negative, and none when unlimited', () => {
    expect(remainingOf(5, 2)).toBe(3);
    expect(remainingOf(5, 5)).toBe(0);
    expect(remainingOf(5, 7)).toBe(0); // after a downgrade
    expect(remainingOf(null, 7)).toBeNull();
  });
});

describe("a tenant's policy for one resource", () => {
  const record: TenantRecord = {
    tenantId: 'org-1',
    customerId: 'customer-1',
    planId: 'growth',
    plan: { deployments: 5, self_hosted_workers: null },
    overrides: { deployments: 9 },
    planSoftLimits: { deployments: { overage_cap: 2 } },
    softLimitOverrides: { self_hosted_workers: { overage_cap: 1 } },
  };

  it('is its effective limit with its soft policy', () => {
    expect(resourcePolicy(record, 'deployments')).toEqual({ limit: 9, soft: { overage_cap: 2 } });
    expect(resourcePolicy(record, 'self_hosted_workers')).toEqual({ limit: null, soft: { overage_cap: 1 } });
  });
});
