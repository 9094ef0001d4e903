/**
 * Counts are PostgreSQL `integer`s in the store. The contract accepts at most 1,000,000,000 for any
 * count (a limit, an override, an overage cap, a usage count) — so the sum of any two fits — and
 * `billing_reserve` never takes a counter past 2,147,483,647, so no valid input and no reachable
 * usage can overflow a query. Values are spelled out literally: they are the wire contract.
 */
import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LimitOverrides, TenantSoftLimits } from '../../../src/contract/admin.js';
import { usageCounter } from '../../../src/db/schema.js';
import { createHarness, type Harness, STORE_KINDS, useHarness } from '../../support/harness.js';

const MAX_COUNT = 1_000_000_000;
/** PostgreSQL's largest `integer`: what a counter row holds. */
const MAX_INTEGER = 2_147_483_647;

const json = (body: unknown) => ({
  method: 'PUT',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** The 422 FastAPI answers for an integer past `le`. */
const tooBig = (loc: (string | number)[], input: number) => ({
  detail: [
    {
      type: 'less_than_equal',
      loc,
      msg: `Input should be less than or equal to ${MAX_COUNT}`,
      input,
      ctx: { le: MAX_COUNT },
    },
  ],
});

/** Sets a tenant's counter as no API may (past MAX_COUNT): what grants on an unlimited resource reach. */
async function setUsed(h: Harness, tenant: string, used: number) {
  await h.db
    .insert(usageCounter)
    .values({ organizationId: tenant, resource: 'deployments', used })
    .onConflictDoUpdate({ target: [usageCounter.organizationId, usageCounter.resource], set: { used } });
}

async function usedOf(h: Harness, tenant: string) {
  const [row] = await h.db
    .select({ used: usageCounter.used })
    .from(usageCounter)
    .where(and(eq(usageCounter.organizationId, tenant), eq(usageCounter.resource, 'deployments')));
  return row?.used ?? 0;
}

/** The messages of an error and of its causes, joined. */
function messagesOf(error: unknown): string {
  const messages: string[] = [];
  for (let e = error; e instanceof Error; e = e.cause) messages.push(e.message);
  return messages.join(' <- ');
}

function reserve(h: Harness, tenant: string, quantity: number) {
  return h.asWorker('/billing/reservations', {
    method: 'POST',
    headers: { 'tenant-id': tenant, 'content-type': 'application/json' },
    body: JSON.stringify({ resource: 'deployments', quantity, idempotency_key: randomUUID() }),
  });
}

describe.each(STORE_KINDS)('counts on %s', (kind) => {
  const h = useHarness({ store: kind });

  describe.each([MAX_COUNT + 1, 2_147_483_648])('a count of %i', (count) => {
    it('is refused as a tenant override (422 less_than_equal), and nothing is written', async () => {
      const tenant = await h.tenant('growth');
      const res = await h.asAdmin(`/admin/tenants/${tenant}`, json({ overrides: { deployments: count } }));
      expect(res.status).toBe(422);
      expect(await res.json()).toEqual(tooBig(['body', 'overrides', 'deployments'], count));
      expect((await h.store.tenants.findTenant(tenant))?.overrides).toEqual({});
    });

    it('is refused as a tenant’s overage cap (422)', async () => {
      const tenant = await h.tenant('growth');
      const res = await h.asAdmin(
        `/admin/tenants/${tenant}`,
        json({ soft_limits: { self_hosted_workers: { overage_cap: count } } }),
      );
      expect(res.status).toBe(422);
      expect(await res.json()).toEqual(
        tooBig(['body', 'soft_limits', 'self_hosted_workers', 'overage_cap'], count),
      );
    });

    it('is refused as a plan limit and as a plan’s overage cap (422), the catalog unchanged', async () => {
      const limit = await h.asAdmin(
        '/admin/plans/growth',
        json({ deployments: count, self_hosted_workers: 1 }),
      );
      expect(limit.status).toBe(422);
      expect(await limit.json()).toEqual(tooBig(['body', 'deployments'], count));
      const cap = await h.asAdmin(
        '/admin/plans/growth',
        json({
          deployments: 5,
          self_hosted_workers: null,
          soft_limits: { deployments: { overage_cap: count } },
        }),
      );
      expect(cap.status).toBe(422);
      expect(await cap.json()).toEqual(tooBig(['body', 'soft_limits', 'deployments', 'overage_cap'], count));
      expect(await h.limits(await h.tenant('growth'))).toEqual({
        deployments: 5,
        self_hosted_workers: null,
        plan_type: 'growth',
      });
    });

    it('is refused as the Engine’s usage count (422), the counter unchanged', async () => {
      const tenant = await h.tenant('growth');
      const res = await h.asWorker('/billing/usage', {
        ...json({ self_hosted_workers: 1, deployments: count }),
        headers: { 'tenant-id': tenant, 'content-type': 'application/json' },
      });
      expect(res.status).toBe(422);
      expect(await res.json()).toEqual(tooBig(['body', 'deployments'], count));
      expect(await usedOf(h, tenant)).toBe(0);
    });
  });

  it('accepts 1,000,000,000 everywhere a count goes', async () => {
    const tenant = await h.tenant('growth');
    const put = await h.asAdmin(
      `/admin/tenants/${tenant}`,
      json({
        overrides: { deployments: MAX_COUNT },
        soft_limits: { deployments: { overage_cap: MAX_COUNT } },
      }),
    );
    expect(put.status).toBe(200);
    const usage = await h.asWorker('/billing/usage', {
      ...json({ deployments: MAX_COUNT }),
      headers: { 'tenant-id': tenant, 'content-type': 'application/json' },
    });
    expect(usage.status).toBe(200);
    expect(((await usage.json()) as { usage: { deployments: unknown } }).usage.deployments).toEqual({
      used: MAX_COUNT,
      limit: MAX_COUNT,
      remaining: 0,
      overage: 0,
    });
  });

  it('grants at zero usage under a limit of 5 with the largest overage cap (the issue’s 503)', async () => {
    const tenant = await h.tenant('growth', {
      overrides: { deployments: 5 },
      soft_limits: { deployments: { overage_cap: MAX_COUNT } },
    });
    const res = await reserve(h, tenant, 1);
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ used: 1, limit: 5, remaining: 4, overage: false });
  });

  it('grants up to limit + cap at the bounds (2,000,000,000) and refuses past it with 409', async () => {
    const tenant = await h.tenant('growth', {
      overrides: { deployments: MAX_COUNT },
      soft_limits: { deployments: { overage_cap: MAX_COUNT } },
    });
    await setUsed(h, tenant, 2 * MAX_COUNT - 1);
    const past = await reserve(h, tenant, 2);
    expect(past.status).toBe(409);
    expect(await past.json()).toEqual({
      detail: {
        code: 'limit_exceeded',
        resource: 'deployments',
        limit: MAX_COUNT,
        used: 2 * MAX_COUNT - 1,
        requested: 2,
      },
    });
    const last = await reserve(h, tenant, 1);
    expect(last.status).toBe(201);
    expect(await last.json()).toMatchObject({ used: 2 * MAX_COUNT, limit: MAX_COUNT, overage: true });
  });

  it('refuses (409, limit null) a grant that would take an unlimited counter past 2,147,483,647', async () => {
    const tenant = await h.tenant('enterprise');
    await setUsed(h, tenant, MAX_INTEGER - 3);
    const past = await reserve(h, tenant, 4);
    expect(past.status).toBe(409);
    expect(await past.json()).toEqual({
      detail: {
        code: 'limit_exceeded',
        resource: 'deployments',
        limit: null,
        used: MAX_INTEGER - 3,
        requested: 4,
      },
    });
    const last = await reserve(h, tenant, 3);
    expect(last.status).toBe(201);
    expect(await last.json()).toMatchObject({ used: MAX_INTEGER, limit: null, remaining: null });
    expect((await reserve(h, tenant, 1)).status).toBe(409);
    expect(await usedOf(h, tenant)).toBe(MAX_INTEGER);
  });

  it('decides every valid policy at every reachable usage without an error from the store', async () => {
    const tenant = await h.tenant('growth');
    const count = fc.integer({ min: 0, max: MAX_COUNT });
    const edgeCount = fc.oneof(count, fc.constantFrom(0, 1, MAX_COUNT - 1, MAX_COUNT));
    const limit = fc.oneof(edgeCount, fc.constant(null));
    const soft = fc.oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.record({ overage_cap: fc.oneof(edgeCount, fc.constant(null)) }),
    );
    const used = fc.oneof(
      fc.integer({ min: 0, max: MAX_INTEGER }),
      fc.constantFrom(0, MAX_COUNT, 2 * MAX_COUNT, MAX_INTEGER - 10_000, MAX_INTEGER - 1, MAX_INTEGER),
    );
    const quantity = fc.oneof(fc.integer({ min: 1, max: 10_000 }), fc.constantFrom(1, 10_000));
    await fc.assert(
      fc.asyncProperty(limit, soft, used, quantity, async (deployments, policy, before, requested) => {
        const overrides: LimitOverrides = { deployments };
        const softLimits: TenantSoftLimits = policy === undefined ? {} : { deployments: policy };
        await h.store.tenants.putTenant(tenant, { overrides, soft_limits: softLimits }, 'test');
        await setUsed(h, tenant, before);
        const outcome = await h.store.usage.reserve(tenant, {
          resource: 'deployments',
          quantity: requested,
          idempotencyKey: randomUUID(),
          reference: undefined,
          fingerprint: 'f',
        });
        const cap = policy ? policy.overage_cap : 0;
        const ceiling = Math.min(
          deployments === null || cap === null ? MAX_INTEGER : deployments + cap,
          MAX_INTEGER,
        );
        if (before + requested <= ceiling) {
          expect(outcome).toMatchObject({ kind: 'granted', grant: { used: before + requested } });
        } else {
          expect(outcome).toMatchObject({ kind: 'refused', used: before, limit: deployments });
        }
      }),
      { numRuns: kind === 'pglite' ? 60 : 40 },
    );
  });
});

describe.each(STORE_KINDS)('an error the database answers, on %s', (kind) => {
  const h = useHarness({ store: kind });

  it('is a 500 with the generic body, reported as unexpected — never "Limits store unavailable"', async () => {
    const reported: unknown[] = [];
    const app = h.withApp({ hooks: { onUnexpectedError: (error) => reported.push(error) } });
    const tenant = await h.tenant('growth', { soft_limits: { deployments: { overage_cap: 1 } } });
    // A policy no API writes: billing_reserve refuses to read it (SQLSTATE 22023).
    await h.db.execute(
      sql`update organization_to_account set soft_limits = '{"deployments":{"overage_cap":"many"}}'::jsonb where organization_id = ${tenant}`,
    );
    const res = await reserve(app, tenant, 1);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('{"detail":"Internal Server Error"}');
    expect(reported).toHaveLength(1);
    expect(messagesOf(reported[0])).toContain('billing_reserve: malformed soft limit');
  });
});

describe('the largest plan limits', () => {
  it.each(STORE_KINDS)('are served on %s, with reservations against them', async (kind) => {
    // The catalog is every tenant's: a database of this test's own.
    const own = await createHarness({ store: kind });
    const plan = await own.asAdmin(
      '/admin/plans/free',
      json({
        deployments: MAX_COUNT,
        self_hosted_workers: MAX_COUNT,
        soft_limits: { deployments: { overage_cap: MAX_COUNT } },
      }),
    );
    expect(plan.status).toBe(200);
    const tenant = await own.tenant('free');
    expect(await own.limits(tenant)).toEqual({
      deployments: MAX_COUNT,
      self_hosted_workers: MAX_COUNT,
      plan_type: 'free',
    });
    expect((await reserve(own, tenant, 10_000)).status).toBe(201);
  });
});
