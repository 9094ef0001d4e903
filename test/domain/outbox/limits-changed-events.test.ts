import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LimitsChangeCause } from '../../../src/contract/outbound-webhooks.js';
import { PLAN_TYPES } from '../../../src/contract/plans.js';
import { effectiveLimits, type TenantRecord } from '../../../src/domain/limits/effective-limits.js';
import { limitsChangedEvents } from '../../../src/domain/outbox/events.js';

const tenant = (tenantId: string, fields: Partial<Omit<TenantRecord, 'tenantId'>> = {}): TenantRecord => ({
  tenantId,
  customerId: `cus-${tenantId}`,
  planId: 'growth',
  plan: { deployments: 5, self_hosted_workers: null },
  overrides: {},
  planSoftLimits: {},
  softLimitOverrides: {},
  ...fields,
});

describe('limitsChangedEvents', () => {
  it('reports a created tenant with `before: null`', () => {
    const created = tenant('org-1', { customerId: 'cus-9', overrides: { self_hosted_workers: 2 } });
    const events = limitsChangedEvents([], [created], 'admin');
    expect(events).toEqual([
      {
        type: 'limits.changed',
        tenantId: 'org-1',
        data: {
          tenant_id: 'org-1',
          customer_id: 'cus-9',
          before: null,
          after: { deployments: 5, self_hosted_workers: 2, plan_type: 'growth' },
          cause: 'admin',
        },
      },
    ]);
    // The contract's key order, with `sequence` left for the database to add.
    expect(Object.keys(events[0]?.data ?? {})).toEqual([
      'tenant_id',
      'customer_id',
      'before',
      'after',
      'cause',
    ]);
  });

  describe('says nothing when the effective limits stay the same', () => {
    const was = tenant('org-1');
    it.each<[string, TenantRecord]>([
      ['the same record', was],
      ['a copy of the record', structuredClone(was)],
      ['an override equal to the plan limit', tenant('org-1', { overrides: { deployments: 5 } })],
      [
        'an override of unlimited where the plan is unlimited',
        tenant('org-1', { overrides: { self_hosted_workers: null } }),
      ],
      [
        'soft limits changed only',
        tenant('org-1', {
          planSoftLimits: { deployments: { overage_cap: 3 } },
          softLimitOverrides: { self_hosted_workers: { overage_cap: null } },
        }),
      ],
      [
        'the same plan id with an equal plan row',
        tenant('org-1', { plan: { deployments: 5, self_hosted_workers: null } }),
      ],
      ['another billing account only', tenant('org-1', { customerId: 'cus-other' })],
      [
        'a new plan row whose limits an override hides',
        tenant('org-1', {
          plan: { deployments: 50, self_hosted_workers: null },
          overrides: { deployments: 5 },
        }),
      ],
    ])('%s', (_, now) => {
      expect(limitsChangedEvents([was], [now], 'catalog')).toEqual([]);
    });
  });

  describe('reports one event for a change of', () => {
    it.each<
      [
        string,
        Partial<TenantRecord>,
        Partial<TenantRecord>,
        ReturnType<typeof effectiveLimits>,
        ReturnType<typeof effectiveLimits>,
      ]
    >([
      [
        'deployments (an override)',
        {},
        { overrides: { deployments: 10 } },
        { deployments: 5, self_hosted_workers: null, plan_type: 'growth' },
        { deployments: 10, self_hosted_workers: null, plan_type: 'growth' },
      ],
      [
        'deployments (the plan row)',
        { plan: { deployments: 5, self_hosted_workers: 1 } },
        { plan: { deployments: 6, self_hosted_workers: 1 } },
        { deployments: 5, self_hosted_workers: 1, plan_type: 'growth' },
        { deployments: 6, self_hosted_workers: 1, plan_type: 'growth' },
      ],
      [
        'self_hosted_workers',
        { overrides: { self_hosted_workers: 3 } },
        { overrides: { self_hosted_workers: 4 } },
        { deployments: 5, self_hosted_workers: 3, plan_type: 'growth' },
        { deployments: 5, self_hosted_workers: 4, plan_type: 'growth' },
      ],
      [
        'plan_type (same limits, another plan)',
        { planId: 'growth' },
        { planId: 'enterprise' },
        { deployments: 5, self_hosted_workers: null, plan_type: 'growth' },
        { deployments: 5, self_hosted_workers: null, plan_type: 'enterprise' },
      ],
      [
        'a number to unlimited',
        { overrides: { deployments: 0 } },
        { overrides: { deployments: null } },
        { deployments: 0, self_hosted_workers: null, plan_type: 'growth' },
        { deployments: null, self_hosted_workers: null, plan_type: 'growth' },
      ],
      [
        'unlimited to a number (an override removed)',
        { overrides: {} },
        { overrides: { self_hosted_workers: 0 } },
        { deployments: 5, self_hosted_workers: null, plan_type: 'growth' },
        { deployments: 5, self_hosted_workers: 0, plan_type: 'growth' },
      ],
    ])('%s', (_, wasFields, nowFields, before, after) => {
      const events = limitsChangedEvents(
        [tenant('org-7', { customerId: 'cus-old', ...wasFields })],
        [tenant('org-7', { customerId: 'cus-new', ...nowFields })],
        'orb',
      );
      expect(events).toEqual([
        {
          type: 'limits.changed',
          tenantId: 'org-7',
          // The billing account after the write.
          data: { tenant_id: 'org-7', customer_id: 'cus-new', before, after, cause: 'orb' },
        },
      ]);
    });
  });

  it('orders the events by tenant id (code units), whatever order the records came in', () => {
    const ids = ['org-b', 'org-10', 'Org-z', 'org-2', 'org-a'];
    const events = limitsChangedEvents(
      [],
      ids.map((id) => tenant(id)),
      'catalog',
    );
    expect(events.map((event) => event.tenantId)).toEqual(['Org-z', 'org-10', 'org-2', 'org-a', 'org-b']);
    expect(events.map((event) => event.data['tenant_id'])).toEqual([
      'Org-z',
      'org-10',
      'org-2',
      'org-a',
      'org-b',
    ]);
  });

  it('leaves out unchanged tenants among changed ones, and does not reorder its input', () => {
    const before = [tenant('org-c'), tenant('org-a'), tenant('org-b')];
    const after = [
      tenant('org-c', { overrides: { deployments: 1 } }),
      tenant('org-a'),
      tenant('org-d'),
      tenant('org-b'),
    ];
    const snapshot = after.map((record) => record.tenantId);
    const events = limitsChangedEvents(before, after, 'admin');
    expect(events.map((event) => [event.tenantId, event.data['before']])).toEqual([
      ['org-c', { deployments: 5, self_hosted_workers: null, plan_type: 'growth' }],
      ['org-d', null],
    ]);
    expect(after.map((record) => record.tenantId)).toEqual(snapshot);
  });

  it('says nothing of a tenant found only before the write', () => {
    expect(limitsChangedEvents([tenant('org-gone')], [], 'admin')).toEqual([]);
    expect(
      limitsChangedEvents(
        [tenant('org-gone'), tenant('org-1')],
        [tenant('org-1', { planId: 'free' })],
        'admin',
      ).map((event) => event.tenantId),
    ).toEqual(['org-1']);
  });

  it('property: an event exactly for each tenant that is new or whose effective limits differ', () => {
    const limit = fc.option(fc.integer({ min: 0, max: 2 }), { nil: null });
    const record = (tenantId: string): fc.Arbitrary<TenantRecord> =>
      fc.record({
        tenantId: fc.constant(tenantId),
        customerId: fc.constantFrom('cus-1', 'cus-2'),
        planId: fc.constantFrom(...PLAN_TYPES),
        plan: fc.record({ deployments: limit, self_hosted_workers: limit }),
        overrides: fc.record({ deployments: limit, self_hosted_workers: limit }, { requiredKeys: [] }),
        planSoftLimits: fc.record({ deployments: fc.record({ overage_cap: limit }) }, { requiredKeys: [] }),
        softLimitOverrides: fc.constant({}),
      });
    const scenario = fc
      .uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), { maxLength: 6 })
      .chain((ids) => fc.tuple(...ids.map(record)))
      .chain((after) =>
        fc.record({
          after: fc.constant(after),
          // Each tenant is new, or existed with any limits, or with the same ones (and another account).
          before: fc.tuple(
            ...after.map((now) =>
              fc.oneof(
                fc.constant(undefined),
                record(now.tenantId),
                fc.constant({ ...now, customerId: 'cus-before', planSoftLimits: {} }),
              ),
            ),
          ),
          // A tenant found only before the write.
          goneBefore: fc.array(record('z-gone'), { maxLength: 1 }),
          cause: fc.constantFrom(...LimitsChangeCause.options),
        }),
      );
    fc.assert(
      fc.property(scenario, ({ after, before, goneBefore, cause }) => {
        const previous = [...before.filter((r): r is TenantRecord => r !== undefined), ...goneBefore];
        const events = limitsChangedEvents(previous, after, cause);
        const expected = [...after]
          .filter((now) => {
            const was = previous.find((r) => r.tenantId === now.tenantId);
            return (
              was === undefined ||
              JSON.stringify(effectiveLimits(was)) !== JSON.stringify(effectiveLimits(now))
            );
          })
          .sort((x, y) => (x.tenantId < y.tenantId ? -1 : 1))
          .map((now) => {
            const was = previous.find((r) => r.tenantId === now.tenantId);
            return {
              type: 'limits.changed',
              tenantId: now.tenantId,
              data: {
                tenant_id: now.tenantId,
                customer_id: now.customerId,
                before: was ? effectiveLimits(was) : null,
                after: effectiveLimits(now),
                cause,
              },
            };
          });
        expect(events).toEqual(expected);
      }),
    );
  });
});
