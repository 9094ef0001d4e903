import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LimitOverrides, TenantSoftLimits } from '../../../src/contract/admin.js';
import type { CheckResponse, CheckResult } from '../../../src/contract/entitlements.js';
import { reservation } from '../../../src/db/schema.js';
import {
  createHarness,
  type Harness,
  STORE_KINDS,
  trpcPath,
  unique,
  useHarness,
} from '../../support/harness.js';
import { parsePrometheus, sampleSum } from '../../support/prometheus.js';

type Check = { resource: string; quantity?: number };

/** The Engine's calls around a preflight check, as a worker, through `app`. */
function clientFor(app: Harness) {
  const headers = (tenant: string) => ({ 'tenant-id': tenant, 'content-type': 'application/json' });
  const checkRaw = (tenant: string, body: unknown) =>
    app.asWorker('/billing/checks', { method: 'POST', headers: headers(tenant), body: JSON.stringify(body) });
  return {
    checkRaw,
    async check(tenant: string, checks: Check[]): Promise<CheckResponse> {
      const res = await checkRaw(tenant, { checks });
      if (res.status !== 200) throw new Error(`POST /billing/checks: ${res.status} ${await res.text()}`);
      return (await res.json()) as CheckResponse;
    },
    reserve: (tenant: string, resource: string, quantity: number) =>
      app.asWorker('/billing/reservations', {
        method: 'POST',
        headers: headers(tenant),
        body: JSON.stringify({ resource, quantity, idempotency_key: randomUUID() }),
      }),
    /** Sets usage to absolute counts (no reservation behind them), as the Engine reconciles. */
    async setUsage(tenant: string, counts: Record<string, number>) {
      const res = await app.asWorker('/billing/usage', {
        method: 'PUT',
        headers: headers(tenant),
        body: JSON.stringify(counts),
      });
      expect(res.status).toBe(200);
    },
    usage: async (tenant: string) =>
      (await (await app.asWorker('/billing/usage', { headers: headers(tenant) })).json()) as unknown,
  };
}

/** The one result of a single check. */
async function only(response: Promise<CheckResponse>): Promise<CheckResult> {
  const { results } = await response;
  expect(results).toHaveLength(1);
  const [result] = results;
  if (!result) throw new Error('no result');
  return result;
}

describe.each(STORE_KINDS)('POST /billing/checks on %s', (kind) => {
  const h = useHarness({ store: kind });
  const client = clientFor(h);

  describe('reasons', () => {
    it('unlimited: an enterprise plan, and an override of null; never past anything', async () => {
      const enterprise = await h.tenant('enterprise');
      expect(await client.check(enterprise, [{ resource: 'deployments', quantity: 10_000 }])).toEqual({
        tenant_id: enterprise,
        plan_type: 'enterprise',
        results: [
          {
            resource: 'deployments',
            quantity: 10_000,
            allowed: true,
            used: 0,
            limit: null,
            remaining: null,
            would_exceed_by: 0,
            reason: 'unlimited',
            upgrade: null,
          },
        ],
      });
      const overridden = await h.tenant('free', {
        overrides: { deployments: null },
        soft_limits: { deployments: { overage_cap: 1 } },
      });
      expect((await client.reserve(overridden, 'deployments', 7)).status).toBe(201);
      expect(await only(client.check(overridden, [{ resource: 'deployments', quantity: 3 }]))).toEqual({
        resource: 'deployments',
        quantity: 3,
        allowed: true,
        used: 7,
        limit: null,
        remaining: null,
        would_exceed_by: 0,
        reason: 'unlimited',
        upgrade: null,
      });
    });

    it('within_limit up to the limit counting prior reservations, limit_exceeded one past it', async () => {
      const tenant = await h.tenant('growth');
      expect((await client.reserve(tenant, 'deployments', 2)).status).toBe(201);
      const { results } = await client.check(tenant, [
        { resource: 'deployments', quantity: 3 },
        { resource: 'deployments', quantity: 4 },
      ]);
      expect(results).toEqual([
        {
          resource: 'deployments',
          quantity: 3,
          allowed: true,
          used: 2,
          limit: 5,
          remaining: 3,
          would_exceed_by: 0,
          reason: 'within_limit',
          upgrade: null,
        },
        {
          resource: 'deployments',
          quantity: 4,
          allowed: false,
          used: 2,
          limit: 5,
          remaining: 3,
          would_exceed_by: 1,
          reason: 'limit_exceeded',
          upgrade: { plan_type: 'enterprise', limit: null },
        },
      ]);
    });

    it('soft_limit_overage up to the cap, counting the units past the limit; overage_cap_exceeded past it', async () => {
      const tenant = await h.tenant('free', {
        overrides: { deployments: 2 },
        soft_limits: { deployments: { overage_cap: 3 } },
      });
      expect((await client.reserve(tenant, 'deployments', 1)).status).toBe(201);
      const { results } = await client.check(tenant, [
        { resource: 'deployments', quantity: 1 },
        { resource: 'deployments', quantity: 2 },
        { resource: 'deployments', quantity: 4 },
        { resource: 'deployments', quantity: 5 },
      ]);
      expect(results.map((r) => [r.quantity, r.allowed, r.reason, r.would_exceed_by, r.upgrade])).toEqual([
        [1, true, 'within_limit', 0, null],
        [2, true, 'soft_limit_overage', 1, null],
        [4, true, 'soft_limit_overage', 3, null],
        [5, false, 'overage_cap_exceeded', 4, { plan_type: 'enterprise', limit: null }],
      ]);
      for (const result of results) expect(result).toMatchObject({ used: 1, limit: 2, remaining: 1 });
    });

    it('soft_limit_overage without end when the overage cap is null', async () => {
      const tenant = await h.tenant('free', { soft_limits: { deployments: { overage_cap: null } } });
      expect((await client.reserve(tenant, 'deployments', 3)).status).toBe(201);
      expect(await only(client.check(tenant, [{ resource: 'deployments', quantity: 10_000 }]))).toEqual({
        resource: 'deployments',
        quantity: 10_000,
        allowed: true,
        used: 3,
        limit: 1,
        remaining: 0,
        would_exceed_by: 10_002,
        reason: 'soft_limit_overage',
        upgrade: null,
      });
    });

    it('overage_cap_exceeded for a soft limit with a cap of 0, as billing_reserve refuses it', async () => {
      const tenant = await h.tenant('free', { soft_limits: { deployments: { overage_cap: 0 } } });
      expect(await only(client.check(tenant, [{ resource: 'deployments', quantity: 2 }]))).toMatchObject({
        allowed: false,
        reason: 'overage_cap_exceeded',
        would_exceed_by: 1,
      });
      expect((await client.reserve(tenant, 'deployments', 2)).status).toBe(409);
    });

    it('a tenant’s null soft policy makes the limit hard (limit_exceeded)', async () => {
      const tenant = await h.tenant('free', { soft_limits: { deployments: null } });
      expect(await only(client.check(tenant, [{ resource: 'deployments', quantity: 2 }]))).toMatchObject({
        allowed: false,
        reason: 'limit_exceeded',
      });
    });

    it('after a downgrade below usage: remaining 0, would_exceed_by counts all the units past the limit', async () => {
      const tenant = await h.tenant('growth');
      expect((await client.reserve(tenant, 'deployments', 4)).status).toBe(201);
      await h.store.tenants.putTenant(tenant, { plan_id: 'free' }, 'test');
      const { plan_type, results } = await client.check(tenant, [{ resource: 'deployments' }]);
      expect(plan_type).toBe('free');
      expect(results).toEqual([
        {
          resource: 'deployments',
          quantity: 1,
          allowed: false,
          used: 4,
          limit: 1,
          remaining: 0,
          would_exceed_by: 4,
          reason: 'limit_exceeded',
          upgrade: { plan_type: 'growth', limit: 5 },
        },
      ]);
    });
  });

  describe('the request', () => {
    it('is answered in request order, the same resource judged on its own each time, quantity 1 by default', async () => {
      const tenant = await h.tenant('free');
      const { results } = await client.check(tenant, [
        { resource: 'self_hosted_workers', quantity: 5 },
        { resource: 'deployments' },
        { resource: 'self_hosted_workers', quantity: 5 },
        { resource: 'self_hosted_workers', quantity: 6 },
        { resource: 'deployments' },
      ]);
      // Cumulatively the second self_hosted_workers entry (10 > 5) and the second deployment would be refused.
      expect(results.map((r) => [r.resource, r.quantity, r.allowed, r.reason])).toEqual([
        ['self_hosted_workers', 5, true, 'within_limit'],
        ['deployments', 1, true, 'within_limit'],
        ['self_hosted_workers', 5, true, 'within_limit'],
        ['self_hosted_workers', 6, false, 'limit_exceeded'],
        ['deployments', 1, true, 'within_limit'],
      ]);
    });

    it('reserves nothing', async () => {
      const tenant = await h.tenant('growth');
      expect((await client.reserve(tenant, 'self_hosted_workers', 2)).status).toBe(201);
      const before = await client.usage(tenant);
      const checks = Array.from({ length: 50 }, (_, i) => ({
        resource: i % 2 ? 'deployments' : 'self_hosted_workers',
        quantity: 1 + (i % 7),
      }));
      for (let i = 0; i < 3; i++) await client.check(tenant, checks);
      expect(await client.usage(tenant)).toEqual(before);
      const rows = await h.db.select().from(reservation).where(eq(reservation.organizationId, tenant));
      expect(rows).toHaveLength(1);
      expect((await client.check(tenant, [{ resource: 'self_hosted_workers' }])).results[0]?.used).toBe(2);
    });

    it('counts one billing_preflight_checks_total{resource,reason} per entry', async () => {
      const scrape = async () => parsePrometheus(await (await h.request('/metrics')).text());
      const counted = (samples: Awaited<ReturnType<typeof scrape>>, resource: string, reason: string) =>
        sampleSum(samples, 'billing_preflight_checks_total', { resource, reason });
      const total = (samples: Awaited<ReturnType<typeof scrape>>) =>
        sampleSum(samples, 'billing_preflight_checks_total');
      const tenant = await h.tenant('free', { soft_limits: { self_hosted_workers: { overage_cap: 1 } } });
      const before = await scrape();
      await client.check(tenant, [
        { resource: 'deployments' },
        { resource: 'deployments' },
        { resource: 'deployments', quantity: 2 },
        { resource: 'self_hosted_workers', quantity: 6 },
        { resource: 'self_hosted_workers', quantity: 7 },
      ]);
      // Refused before any entry is judged: nothing counted.
      expect((await client.checkRaw(tenant, { checks: [{ resource: 'gpus' }] })).status).toBe(422);
      expect(
        (await client.checkRaw(unique('nobody'), { checks: [{ resource: 'deployments' }] })).status,
      ).toBe(404);
      const after = await scrape();
      const delta = (resource: string, reason: string) =>
        counted(after, resource, reason) - counted(before, resource, reason);
      expect(delta('deployments', 'within_limit')).toBe(2);
      expect(delta('deployments', 'limit_exceeded')).toBe(1);
      expect(delta('self_hosted_workers', 'soft_limit_overage')).toBe(1);
      expect(delta('self_hosted_workers', 'overage_cap_exceeded')).toBe(1);
      expect(total(after) - total(before)).toBe(5);
    });

    it('is the tRPC mutation billing.check, answering the same', async () => {
      const tenant = await h.tenant('growth');
      expect((await client.reserve(tenant, 'deployments', 5)).status).toBe(201);
      const checks = [{ resource: 'deployments' }, { resource: 'self_hosted_workers', quantity: 9 }];
      const res = await h.asWorker(trpcPath('billing.check'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tenantId: tenant, checks }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { result: { data: CheckResponse } };
      expect(body.result.data).toEqual(await client.check(tenant, checks));
      expect(body.result.data.results.map((r) => r.reason)).toEqual(['limit_exceeded', 'unlimited']);
      // A mutation: not asked over GET.
      expect((await h.asWorker(trpcPath('billing.check', { tenantId: tenant, checks }))).status).toBe(405);
      const bad = await h.asWorker(trpcPath('billing.check'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ tenantId: tenant, checks: [] }),
      });
      expect(bad.status).toBe(400);
    });
  });

  describe('the upgrade a refusal names', () => {
    it('is the first plan above whose catalog limit holds used + quantity, else none', async () => {
      const free = await h.tenant('free');
      await client.setUsage(free, { deployments: 3, self_hosted_workers: 5 });
      const { results } = await client.check(free, [
        { resource: 'deployments', quantity: 2 },
        { resource: 'deployments', quantity: 3 },
        { resource: 'self_hosted_workers', quantity: 1 },
      ]);
      expect(results.map((r) => [r.allowed, r.upgrade])).toEqual([
        [false, { plan_type: 'growth', limit: 5 }],
        [false, { plan_type: 'enterprise', limit: null }],
        [false, { plan_type: 'growth', limit: null }],
      ]);
    });

    it('is null when allowed, and for an enterprise tenant (no plan above)', async () => {
      const free = await h.tenant('free');
      expect(await only(client.check(free, [{ resource: 'deployments' }]))).toMatchObject({
        allowed: true,
        upgrade: null,
      });
      const enterprise = await h.tenant('enterprise', { overrides: { deployments: 2 } });
      expect(await only(client.check(enterprise, [{ resource: 'deployments', quantity: 3 }]))).toMatchObject({
        allowed: false,
        limit: 2,
        reason: 'limit_exceeded',
        upgrade: null,
      });
    });

    it('follows the catalog: its limits, and none when no plan above would allow it', async () => {
      // The catalog is every tenant's: a database of this test's own.
      const own = await createHarness({ store: kind });
      const ownClient = clientFor(own);
      await own.store.tenants.updatePlan(
        'growth',
        { deployments: 20, self_hosted_workers: 3, soft_limits: { deployments: { overage_cap: null } } },
        'test',
      );
      await own.store.tenants.updatePlan(
        'enterprise',
        { deployments: 30, self_hosted_workers: 4, soft_limits: {} },
        'test',
      );
      const free = await own.tenant('free');
      const { results } = await ownClient.check(free, [
        { resource: 'deployments', quantity: 20 },
        { resource: 'deployments', quantity: 21 },
        // growth is soft without a cap, yet the upgrade names a plan whose limit holds it.
        { resource: 'deployments', quantity: 31 },
        { resource: 'self_hosted_workers', quantity: 6 },
      ]);
      expect(results.map((r) => r.upgrade)).toEqual([
        { plan_type: 'growth', limit: 20 },
        { plan_type: 'enterprise', limit: 30 },
        null,
        null,
      ]);
      const growth = await own.tenant('growth', { soft_limits: { self_hosted_workers: null } });
      expect(
        await only(ownClient.check(growth, [{ resource: 'self_hosted_workers', quantity: 4 }])),
      ).toMatchObject({ allowed: false, limit: 3, upgrade: { plan_type: 'enterprise', limit: 4 } });
    });
  });

  it('allows exactly what a reservation made right after is granted', async () => {
    const softPolicy = fc.oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.record({ overage_cap: fc.option(fc.integer({ min: 0, max: 3 }), { nil: null }) }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('free' as const, 'growth' as const, 'enterprise' as const),
        fc.option(fc.integer({ min: 0, max: 4 }), { nil: null }),
        fc.boolean(),
        softPolicy,
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 8 }),
        async (plan, override, overridden, soft, used, quantity) => {
          const overrides: LimitOverrides = overridden ? { deployments: override } : {};
          const softLimits: TenantSoftLimits = soft === undefined ? {} : { deployments: soft };
          const tenant = await h.tenant(plan, { overrides, soft_limits: softLimits });
          if (used > 0) await client.setUsage(tenant, { deployments: used });
          const result = await only(client.check(tenant, [{ resource: 'deployments', quantity }]));
          const granted = await client.reserve(tenant, 'deployments', quantity);
          expect([201, 409]).toContain(granted.status);
          expect(granted.status === 201, JSON.stringify(result)).toBe(result.allowed);
          expect(result.used).toBe(used);
          expect(result.would_exceed_by).toBe(
            result.limit === null ? 0 : Math.max(0, used + quantity - result.limit),
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  describe('refusals', () => {
    it('answers an unknown tenant 404, a missing tenant-id 422, no token 401', async () => {
      const unknown = await client.checkRaw(unique('nobody'), { checks: [{ resource: 'deployments' }] });
      expect(unknown.status).toBe(404);
      expect(await unknown.text()).toBe('{"detail":"Tenant not found"}');
      const noTenant = await h.asWorker('/billing/checks', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ checks: [{ resource: 'deployments' }] }),
      });
      expect(noTenant.status).toBe(422);
      expect(await noTenant.text()).toBe(
        '{"detail":[{"type":"missing","loc":["header","tenant-id"],"msg":"Field required","input":null}]}',
      );
      const anonymous = await h.request('/billing/checks', {
        method: 'POST',
        headers: { 'tenant-id': await h.tenant('free'), 'content-type': 'application/json' },
        body: JSON.stringify({ checks: [{ resource: 'deployments' }] }),
      });
      expect(anonymous.status).toBe(401);
      expect(await anonymous.text()).toBe('{"detail":"Missing authorization header"}');
    });

    const checkOf = (entry: Record<string, unknown>) => ({ checks: [entry] });
    it.each([
      [
        'an unknown resource',
        checkOf({ resource: 'gpus' }),
        {
          type: 'enum',
          loc: ['body', 'checks', 0, 'resource'],
          msg: "Input should be 'deployments' or 'self_hosted_workers'",
          input: 'gpus',
          ctx: { expected: "'deployments' or 'self_hosted_workers'" },
        },
      ],
      [
        'a quantity of 0',
        checkOf({ resource: 'deployments', quantity: 0 }),
        {
          type: 'greater_than_equal',
          loc: ['body', 'checks', 0, 'quantity'],
          msg: 'Input should be greater than or equal to 1',
          input: 0,
          ctx: { ge: 1 },
        },
      ],
      [
        'a quantity of 10,001',
        checkOf({ resource: 'deployments', quantity: 10_001 }),
        {
          type: 'less_than_equal',
          loc: ['body', 'checks', 0, 'quantity'],
          msg: 'Input should be less than or equal to 10000',
          input: 10_001,
          ctx: { le: 10_000 },
        },
      ],
      [
        'a fractional quantity',
        checkOf({ resource: 'deployments', quantity: 1.5 }),
        {
          type: 'int_type',
          loc: ['body', 'checks', 0, 'quantity'],
          msg: 'Input should be a valid integer',
          input: 1.5,
        },
      ],
      [
        'an unknown field in an entry',
        { checks: [{ resource: 'deployments' }, { resource: 'deployments', reference: 'x' }] },
        {
          type: 'extra_forbidden',
          loc: ['body', 'checks', 1, 'reference'],
          msg: 'Extra inputs are not permitted',
          input: 'x',
        },
      ],
      [
        'an unknown field beside checks',
        { checks: [{ resource: 'deployments' }], dry_run: true },
        {
          type: 'extra_forbidden',
          loc: ['body', 'dry_run'],
          msg: 'Extra inputs are not permitted',
          input: true,
        },
      ],
      [
        'no checks',
        { checks: [] },
        {
          type: 'too_short',
          loc: ['body', 'checks'],
          msg: 'List should have at least 1 item after validation, not 0',
          input: [],
          ctx: { field_type: 'List', min_length: 1, actual_length: 0 },
        },
      ],
      [
        '51 checks',
        { checks: Array.from({ length: 51 }, () => ({ resource: 'deployments' })) },
        {
          type: 'too_long',
          loc: ['body', 'checks'],
          msg: 'List should have at most 50 items after validation, not 51',
          input: Array.from({ length: 51 }, () => ({ resource: 'deployments' })),
          ctx: { field_type: 'List', max_length: 50, actual_length: 51 },
        },
      ],
      [
        'checks that are not a list',
        { checks: { resource: 'deployments' } },
        {
          type: 'list_type',
          loc: ['body', 'checks'],
          msg: 'Input should be a valid list',
          input: { resource: 'deployments' },
        },
      ],
      [
        'no checks field',
        {},
        { type: 'missing', loc: ['body', 'checks'], msg: 'Field required', input: null },
      ],
    ])('refuses %s with a FastAPI 422', async (_, body, issue) => {
      const tenant = await h.tenant('growth');
      const res = await client.checkRaw(tenant, body);
      expect(res.status).toBe(422);
      expect(await res.json()).toEqual({ detail: [issue] });
    });

    it('refuses a missing body with a FastAPI 422', async () => {
      const res = await h.asWorker('/billing/checks', {
        method: 'POST',
        headers: { 'tenant-id': await h.tenant('growth'), 'content-type': 'application/json' },
      });
      expect(res.status).toBe(422);
      expect(await res.text()).toBe(
        '{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}',
      );
    });

    it('accepts exactly 50 checks of quantity 10,000', async () => {
      const tenant = await h.tenant('enterprise');
      const { results } = await client.check(
        tenant,
        Array.from({ length: 50 }, () => ({ resource: 'deployments', quantity: 10_000 })),
      );
      expect(results).toHaveLength(50);
      expect(new Set(results.map((r) => r.reason))).toEqual(new Set(['unlimited']));
    });
  });
});
