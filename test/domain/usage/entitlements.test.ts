import { randomUUID } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { EntitlementsResponse } from '../../../src/contract/entitlements.js';
import type { BillingStore } from '../../../src/domain/store.js';
import {
  createHarness,
  type Harness,
  STORE_KINDS,
  trpcPath,
  unique,
  useHarness,
} from '../../support/harness.js';

/** RFC 3339, as `Date#toISOString` writes it (UTC). */
const RFC_3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

const MISSING_TENANT =
  '{"detail":[{"type":"missing","loc":["header","tenant-id"],"msg":"Field required","input":null}]}';

/** The Engine's calls, as a worker, through `app`. */
function clientFor(app: Pick<Harness, 'asWorker'>) {
  const headers = (tenant: string) => ({ 'tenant-id': tenant, 'content-type': 'application/json' });
  const entitlementsRaw = (tenant: string) =>
    app.asWorker('/billing/entitlements', { headers: { 'tenant-id': tenant } });
  return {
    entitlementsRaw,
    async entitlements(tenant: string): Promise<EntitlementsResponse> {
      const res = await entitlementsRaw(tenant);
      if (res.status !== 200) throw new Error(`GET /billing/entitlements: ${res.status} ${await res.text()}`);
      return (await res.json()) as EntitlementsResponse;
    },
    async reserve(tenant: string, resource: string, quantity: number, leaseSeconds?: number) {
      const res = await app.asWorker('/billing/reservations', {
        method: 'POST',
        headers: headers(tenant),
        body: JSON.stringify({
          resource,
          quantity,
          idempotency_key: randomUUID(),
          ...(leaseSeconds === undefined ? {} : { lease_seconds: leaseSeconds }),
        }),
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { reservation_id: string }).reservation_id;
    },
    reserveRaw: (tenant: string, resource: string, quantity: number) =>
      app.asWorker('/billing/reservations', {
        method: 'POST',
        headers: headers(tenant),
        body: JSON.stringify({ resource, quantity, idempotency_key: randomUUID() }),
      }),
    async release(tenant: string, id: string) {
      const res = await app.asWorker(`/billing/reservations/${id}`, {
        method: 'DELETE',
        headers: headers(tenant),
      });
      expect(res.status).toBe(204);
    },
  };
}

type StoreMode = 'up' | 'down' | 'hang' | 'bug';

/**
 * The store, with a switch on its entitlements read: `down` fails as a stopped database does, `hang`
 * never answers (until the test ends), `bug` fails as a fault of ours would.
 */
function switchableStore(store: BillingStore) {
  const state: { mode: StoreMode } = { mode: 'up' };
  const hung: (() => void)[] = [];
  onTestFinished(() => {
    for (const answer of hung) answer();
  });
  const wrapped: BillingStore = {
    ...store,
    usage: {
      ...store.usage,
      entitlements(tenantId) {
        switch (state.mode) {
          case 'down':
            return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
          case 'hang':
            return new Promise((resolve) => hung.push(() => resolve(undefined)));
          case 'bug':
            return Promise.reject(new TypeError("Cannot read properties of undefined (reading 'rows')"));
          default:
            return store.usage.entitlements(tenantId);
        }
      },
    },
  };
  return { store: wrapped, state };
}

const UNAVAILABLE = '{"detail":"Limits store unavailable"}';

describe.each(STORE_KINDS)('GET /billing/entitlements on %s', (kind) => {
  const h = useHarness({ store: kind });
  const client = clientFor(h);

  describe('where each limit comes from', () => {
    it('from the plan: the catalog’s limit, no override, a hard limit', async () => {
      const tenant = await h.tenant('growth');
      const res = await client.entitlementsRaw(tenant);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toEqual({
        tenant_id: tenant,
        customer_id: tenant,
        plan_type: 'growth',
        entitlements: {
          deployments: {
            limit: 5,
            source: 'plan',
            plan_limit: 5,
            override: null,
            soft: null,
            used: 0,
            remaining: 5,
            active_reservations: 0,
            leased_quantity: 0,
          },
          self_hosted_workers: {
            limit: null,
            source: 'plan',
            plan_limit: null,
            override: null,
            soft: null,
            used: 0,
            remaining: null,
            active_reservations: 0,
            leased_quantity: 0,
          },
        },
        as_of: expect.stringMatching(RFC_3339),
        stale: false,
      });
    });

    it('from an override: its value, and null for unlimited; an override equal to the plan is still one', async () => {
      const tenant = await h.tenant('free', { overrides: { deployments: 7, self_hosted_workers: null } });
      const { entitlements } = await client.entitlements(tenant);
      expect(entitlements.deployments).toMatchObject({
        limit: 7,
        source: 'override',
        plan_limit: 1,
        override: 7,
        remaining: 7,
      });
      expect(entitlements.self_hosted_workers).toMatchObject({
        limit: null,
        source: 'override',
        plan_limit: 5,
        override: null,
        remaining: null,
      });
      const same = await h.tenant('free', { overrides: { deployments: 1 } });
      const { entitlements: sameAsPlan } = await client.entitlements(same);
      expect(sameAsPlan.deployments).toMatchObject({
        limit: 1,
        source: 'override',
        plan_limit: 1,
        override: 1,
      });
      expect(sameAsPlan.self_hosted_workers).toMatchObject({ limit: 5, source: 'plan', override: null });
      // Cleared: back to the plan.
      await h.store.tenants.putTenant(tenant, { overrides: {} }, 'test');
      expect((await client.entitlements(tenant)).entitlements.deployments).toMatchObject({
        limit: 1,
        source: 'plan',
        override: null,
      });
    });

    it('names the customer the tenant is billed as', async () => {
      const customer = unique('cus');
      const tenant = await h.tenant('growth', { customer_id: customer });
      expect(await client.entitlements(tenant)).toMatchObject({ tenant_id: tenant, customer_id: customer });
    });

    it('the soft policy in force: the plan’s, over it the tenant’s own, and a tenant’s null is hard', async () => {
      // The catalog is every tenant's: a database of this test's own.
      const own = await createHarness({ store: kind });
      const ownClient = clientFor(own);
      await own.store.tenants.updatePlan(
        'growth',
        {
          deployments: 8,
          self_hosted_workers: null,
          soft_limits: { deployments: { overage_cap: 2 }, self_hosted_workers: { overage_cap: null } },
        },
        'test',
      );
      const planSoft = await own.tenant('growth');
      const hard = await own.tenant('growth', { soft_limits: { deployments: null } });
      const ownSoft = await own.tenant('growth', { soft_limits: { deployments: { overage_cap: 7 } } });
      const softOf = async (tenant: string) => {
        const { entitlements } = await ownClient.entitlements(tenant);
        return [entitlements.deployments.soft, entitlements.self_hosted_workers.soft];
      };
      expect(await softOf(planSoft)).toEqual([{ overage_cap: 2 }, { overage_cap: null }]);
      expect(await softOf(hard)).toEqual([null, { overage_cap: null }]);
      expect(await softOf(ownSoft)).toEqual([{ overage_cap: 7 }, { overage_cap: null }]);
      expect((await ownClient.entitlements(hard)).entitlements.deployments).toMatchObject({
        limit: 8,
        source: 'plan',
        plan_limit: 8,
      });
      // What the entitlements say is what a reservation gets.
      expect((await ownClient.reserveRaw(hard, 'deployments', 9)).status).toBe(409);
      expect((await ownClient.reserveRaw(planSoft, 'deployments', 10)).status).toBe(201);
      expect((await ownClient.reserveRaw(planSoft, 'deployments', 1)).status).toBe(409);
      expect((await ownClient.entitlements(planSoft)).entitlements.deployments).toMatchObject({
        used: 10,
        remaining: 0,
      });
    });
  });

  describe('what holds each limit', () => {
    it('counts unreleased reservations and the quantity their leases hold', async () => {
      const tenant = await h.tenant('growth');
      await client.reserve(tenant, 'deployments', 1);
      const leased = await client.reserve(tenant, 'deployments', 2, 60);
      await client.reserve(tenant, 'deployments', 1, 3_600);
      await client.reserve(tenant, 'self_hosted_workers', 4, 30);
      const unleased = await client.reserve(tenant, 'self_hosted_workers', 3);
      // A refusal holds nothing.
      expect((await client.reserveRaw(tenant, 'deployments', 2)).status).toBe(409);
      const before = await client.entitlements(tenant);
      expect(before.entitlements.deployments).toMatchObject({
        used: 4,
        remaining: 1,
        active_reservations: 3,
        leased_quantity: 3,
      });
      expect(before.entitlements.self_hosted_workers).toMatchObject({
        used: 7,
        remaining: null,
        active_reservations: 2,
        leased_quantity: 4,
      });
      await client.release(tenant, leased);
      await client.release(tenant, unleased);
      const after = await client.entitlements(tenant);
      expect(after.entitlements.deployments).toMatchObject({
        used: 2,
        remaining: 3,
        active_reservations: 2,
        leased_quantity: 1,
      });
      expect(after.entitlements.self_hosted_workers).toMatchObject({
        used: 4,
        active_reservations: 1,
        leased_quantity: 4,
      });
      // Another tenant's reservations are not this one's.
      const other = await h.tenant('growth');
      await client.reserve(other, 'deployments', 1, 60);
      expect((await client.entitlements(tenant)).entitlements.deployments.active_reservations).toBe(2);
    });

    it('answers as_of when it was read, RFC 3339, moving with the clock; stale false', async () => {
      const app = h.withApp({});
      const appClient = clientFor(app);
      const tenant = await h.tenant('free');
      const readBefore = app.clock.now();
      const first = await appClient.entitlements(tenant);
      expect(first.as_of).toMatch(RFC_3339);
      expect(first.stale).toBe(false);
      expect(Date.parse(first.as_of)).toBeGreaterThanOrEqual(readBefore);
      expect(Date.parse(first.as_of)).toBeLessThanOrEqual(app.clock.now());
      await app.clock.advance(5_000);
      const second = await appClient.entitlements(tenant);
      expect(second.stale).toBe(false);
      expect(Date.parse(second.as_of) - Date.parse(first.as_of)).toBeGreaterThanOrEqual(5_000);
    });
  });

  describe('when the store fails', () => {
    it('serves the last answer, stale, with its as_of, up to the stale limit; then 503; fresh once back', async () => {
      const { store, state } = switchableStore(h.store);
      const app = h.withApp({ dependencies: { store }, config: { staleMaxMs: 60_000 } });
      const appClient = clientFor(app);
      const tenant = await h.tenant('growth');
      await client.reserve(tenant, 'deployments', 2, 60);
      const good = await appClient.entitlements(tenant);
      expect(good).toMatchObject({ stale: false, entitlements: { deployments: { used: 2 } } });
      // Usage moves meanwhile; the stale answer is the last one read.
      await client.reserve(tenant, 'deployments', 1);

      state.mode = 'down';
      expect(await appClient.entitlements(tenant)).toEqual({ ...good, stale: true });
      await app.clock.advance(30_000);
      expect(await appClient.entitlements(tenant)).toEqual({ ...good, stale: true });
      // Never read by this replica: nothing to serve.
      const never = await h.tenant('growth');
      const unknown = await appClient.entitlementsRaw(never);
      expect(unknown.status).toBe(503);
      expect(await unknown.text()).toBe(UNAVAILABLE);
      // Past the stale limit (the clock is real time plus the moves: 61 s after as_of at least).
      await app.clock.advance(31_000);
      const tooOld = await appClient.entitlementsRaw(tenant);
      expect(tooOld.status).toBe(503);
      expect(await tooOld.text()).toBe(UNAVAILABLE);
      const viaTrpc = await app.asWorker(trpcPath('billing.entitlements', { tenantId: tenant }));
      expect(viaTrpc.status).toBe(503);

      state.mode = 'up';
      const fresh = await appClient.entitlements(tenant);
      expect(fresh).toMatchObject({ stale: false, entitlements: { deployments: { used: 3 } } });
      expect(Date.parse(fresh.as_of) - Date.parse(good.as_of)).toBeGreaterThanOrEqual(61_000);
    });

    it('serves the last answer, stale, when the store answers slower than storeTimeoutMs; 503 without one', async () => {
      const { store, state } = switchableStore(h.store);
      const app = h.withApp({ dependencies: { store }, config: { storeTimeoutMs: 1_500 } });
      const appClient = clientFor(app);
      const tenant = await h.tenant('free');
      const good = await appClient.entitlements(tenant);
      expect(good.stale).toBe(false);
      state.mode = 'hang';
      expect(await appClient.entitlements(tenant)).toEqual({ ...good, stale: true });
      const never = await appClient.entitlementsRaw(await h.tenant('free'));
      expect(never.status).toBe(503);
      expect(await never.text()).toBe(UNAVAILABLE);
    });

    it('answers a fault of ours 500, never hidden behind the last answer', async () => {
      const { store, state } = switchableStore(h.store);
      const errors: unknown[] = [];
      const app = h.withApp({
        dependencies: { store },
        hooks: { onUnexpectedError: (error) => errors.push(error) },
      });
      const appClient = clientFor(app);
      const tenant = await h.tenant('free');
      expect((await appClient.entitlements(tenant)).stale).toBe(false);
      state.mode = 'bug';
      const res = await appClient.entitlementsRaw(tenant);
      expect(res.status).toBe(500);
      expect(await res.text()).toBe('{"detail":"Internal Server Error"}');
      expect(errors).toEqual([expect.objectContaining({ cause: expect.any(TypeError) })]);
      // The last answer is still kept for an outage.
      state.mode = 'down';
      expect(await appClient.entitlements(tenant)).toMatchObject({ stale: true });
    });
  });

  describe('the route', () => {
    it('answers an unknown tenant 404, a missing tenant-id 422, no token 401', async () => {
      const unknown = await client.entitlementsRaw(unique('nobody'));
      expect(unknown.status).toBe(404);
      expect(await unknown.text()).toBe('{"detail":"Tenant not found"}');
      const noTenant = await h.asWorker('/billing/entitlements');
      expect(noTenant.status).toBe(422);
      expect(await noTenant.text()).toBe(MISSING_TENANT);
      const anonymous = await h.request('/billing/entitlements', {
        headers: { 'tenant-id': await h.tenant('free') },
      });
      expect(anonymous.status).toBe(401);
      expect(await anonymous.text()).toBe('{"detail":"Missing authorization header"}');
    });

    it('is the tRPC query billing.entitlements, answering the same', async () => {
      const tenant = await h.tenant('growth', { overrides: { deployments: 3 } });
      await client.reserve(tenant, 'deployments', 2, 120);
      const res = await h.asWorker(trpcPath('billing.entitlements', { tenantId: tenant }));
      expect(res.status).toBe(200);
      const { result } = (await res.json()) as { result: { data: EntitlementsResponse } };
      const rest = await client.entitlements(tenant);
      expect({ ...result.data, as_of: rest.as_of }).toEqual(rest);
      expect(result.data.entitlements.deployments).toMatchObject({
        source: 'override',
        override: 3,
        used: 2,
        leased_quantity: 2,
      });
      expect(result.data.as_of).toMatch(RFC_3339);
      const unknown = await h.asWorker(trpcPath('billing.entitlements', { tenantId: unique('nobody') }));
      expect(unknown.status).toBe(404);
    });

    it('leaves GET /billing/limits byte for byte as it was', async () => {
      const tenant = await h.tenant('free', { overrides: { deployments: 7, self_hosted_workers: null } });
      const limitsText = async () => {
        const res = await h.limitsOf(tenant);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        return res.text();
      };
      const expected = `{"tenant_id":"${tenant}","limits":{"deployments":7,"self_hosted_workers":null,"plan_type":"free"}}`;
      expect(await limitsText()).toBe(expected);
      await client.reserve(tenant, 'deployments', 2, 60);
      await client.entitlements(tenant);
      expect(await limitsText()).toBe(expected);
    });
  });
});
