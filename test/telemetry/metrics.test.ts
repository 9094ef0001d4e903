import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BillingStore } from '../../src/domain/store.js';
import { type DrainableServer, listen } from '../../src/http/node-server.js';
import { type Harness, trpcPath, unique, useHarness } from '../support/harness.js';
import { orbDelivery, subscriptionEvent } from '../support/orb.js';
import { parsePrometheus, type Sample, sampleSum } from '../support/prometheus.js';

/** The store, with a switch that makes it fail as an unreachable database would. */
function switchableStore(store: BillingStore) {
  const state = { down: false };
  const guard =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    (...args: A) =>
      state.down ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432')) : call(...args);
  const wrapped: BillingStore = {
    ...store,
    tenants: {
      ...store.tenants,
      findTenant: guard(store.tenants.findTenant),
      listPlans: guard(store.tenants.listPlans),
    },
    webhooks: { ...store.webhooks, recordOrbEvent: guard(store.webhooks.recordOrbEvent) },
  };
  return { store: wrapped, state };
}

describe('metrics after real requests through the HTTP server', () => {
  const h = useHarness({ store: 'pglite' });
  let server: DrainableServer;
  let state: { down: boolean };
  let worker = '';
  let admin = '';

  beforeAll(async () => {
    const switchable = switchableStore(h.store);
    state = switchable.state;
    const { app } = h.withApp({ dependencies: { store: switchable.store }, config: { cacheTtlMs: 60_000 } });
    server = await listen(app.fetch, { port: 0, hostname: '127.0.0.1' });
    worker = await h.workerToken();
    admin = await h.adminToken();
  });
  afterAll(async () => {
    await server?.close(1_000);
  });

  const call = (path: string, init: RequestInit = {}) => fetch(`${server.origin}${path}`, init);
  const limits = (tenant: string | undefined, headers: Record<string, string> = {}) =>
    call('/billing/limits', {
      headers: {
        authorization: `Bearer ${worker}`,
        ...(tenant === undefined ? {} : { 'tenant-id': tenant }),
        ...headers,
      },
    });
  const scrape = async (): Promise<Sample[]> => {
    const res = await call('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    return parsePrometheus(await res.text());
  };
  /** How much each counter moved while `act` ran. */
  async function moved(act: () => Promise<void>) {
    const before = await scrape();
    await act();
    const after = await scrape();
    return (name: string, labels: Record<string, string> = {}) =>
      sampleSum(after, name, labels) - sampleSum(before, name, labels);
  }
  async function tenantOn(planId: 'free' | 'growth', settings: Record<string, unknown> = {}) {
    const tenant = unique('org');
    const res = await call(`/admin/tenants/${tenant}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ plan_id: planId, ...settings }),
    });
    expect(res.status).toBe(200);
    return tenant;
  }

  it('counts limit checks by plan answered, plan source and outcome, on REST and tRPC', async () => {
    const tenant = await tenantOn('growth');
    const delta = await moved(async () => {
      expect((await limits(tenant)).status).toBe(200);
      expect((await limits(tenant)).status).toBe(200);
      const viaTrpc = await call(trpcPath('billing.limits', { tenantId: tenant }), {
        headers: { authorization: `Bearer ${worker}` },
      });
      expect(viaTrpc.status).toBe(200);
      expect((await limits(unique('org-unknown'))).status).toBe(404);
      expect((await call('/billing/limits', { headers: { 'tenant-id': tenant } })).status).toBe(401);
      expect((await limits(tenant, { authorization: 'Bearer not.a.token' })).status).toBe(401);
      expect((await limits(tenant, { 'x-plan-type': 'pro' })).status).toBe(422);
      expect((await limits(undefined)).status).toBe(422);
      const invalidTrpc = await call(trpcPath('billing.limits', { tenantId: '' }), {
        headers: { authorization: `Bearer ${worker}` },
      });
      expect(invalidTrpc.status).toBe(400);
      // Probes and scrapes are not limit checks.
      await call('/healthz');
      await call('/readyz');
    });
    const checks = 'billing_limit_checks_total';
    expect(delta(checks, { plan: 'growth', source: 'database', outcome: 'ok' })).toBe(3);
    expect(delta(checks, { plan: 'none', source: 'database', outcome: 'not_found' })).toBe(1);
    expect(delta(checks, { plan: 'none', source: 'database', outcome: 'unauthorized' })).toBe(2);
    expect(delta(checks, { plan: 'none', source: 'database', outcome: 'invalid' })).toBe(3);
    expect(delta(checks)).toBe(9);
  });

  it('counts an unreachable store as unavailable', async () => {
    const delta = await moved(async () => {
      state.down = true;
      try {
        expect((await limits(unique('org-never-seen'))).status).toBe(503);
      } finally {
        state.down = false;
      }
    });
    expect(delta('billing_limit_checks_total', { outcome: 'unavailable', plan: 'none' })).toBe(1);
  });

  it('counts hard violations (refused) and soft ones (granted into overage), once per decision', async () => {
    const tenant = await tenantOn('growth', {
      overrides: { deployments: 1, self_hosted_workers: 1 },
      soft_limits: { self_hosted_workers: { overage_cap: 5 } },
    });
    const reserve = (body: Record<string, unknown>) =>
      call('/billing/reservations', {
        method: 'POST',
        headers: {
          authorization: `Bearer ${worker}`,
          'tenant-id': tenant,
          'content-type': 'application/json',
        },
        body: JSON.stringify(body),
      });
    const delta = await moved(async () => {
      expect((await reserve({ resource: 'deployments', idempotency_key: 'd-1' })).status).toBe(201);
      expect((await reserve({ resource: 'deployments', idempotency_key: 'd-2' })).status).toBe(409);
      expect((await reserve({ resource: 'deployments', idempotency_key: 'd-3' })).status).toBe(409);
      const soft = await reserve({ resource: 'self_hosted_workers', quantity: 3, idempotency_key: 'w-1' });
      expect(soft.status).toBe(201);
      expect(((await soft.json()) as { overage: boolean }).overage).toBe(true);
      // A replay repeats the answer, not the decision.
      expect(
        (await reserve({ resource: 'self_hosted_workers', quantity: 3, idempotency_key: 'w-1' })).status,
      ).toBe(201);
    });
    const violations = 'billing_limit_violations_total';
    expect(delta(violations, { resource: 'deployments', plan: 'growth', kind: 'hard' })).toBe(2);
    expect(delta(violations, { resource: 'self_hosted_workers', plan: 'growth', kind: 'soft' })).toBe(1);
    expect(delta(violations)).toBe(3);
  });

  it('counts cache hits, misses, invalidations and stale answers', async () => {
    const tenant = await tenantOn('free');
    const events = 'billing_cache_events_total';
    const warm = await moved(async () => {
      await limits(tenant);
      await limits(tenant);
    });
    expect(warm(events, { result: 'miss' })).toBe(1);
    expect(warm(events, { result: 'hit' })).toBe(1);

    const invalidated = await moved(async () => {
      await tenantOn('free'); // another tenant: nothing cached is touched
      const res = await call(`/admin/tenants/${tenant}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ plan_id: 'growth' }),
      });
      expect(res.status).toBe(200);
    });
    expect(invalidated(events, { result: 'invalidated' })).toBe(1);
  });

  it('counts stale answers served while the store is down', async () => {
    const { store, state: faults } = switchableStore(h.store);
    const app: Harness = h.withApp({ dependencies: { store }, config: { cacheTtlMs: 60_000 } });
    const tenant = await h.tenant('growth');
    const ask = () => app.limitsOf(tenant);
    expect((await ask()).status).toBe(200);
    faults.down = true;
    await app.clock.advance(60_001); // past the TTL
    expect((await ask()).status).toBe(200);
    const samples = parsePrometheus(await (await app.request('/metrics')).text());
    expect(sampleSum(samples, 'billing_cache_events_total', { result: 'stale' })).toBe(1);
    expect(sampleSum(samples, 'billing_limit_checks_total', { outcome: 'ok', plan: 'growth' })).toBe(2);
  });

  it('counts webhook deliveries by event type and outcome', async () => {
    const customer = unique('cus');
    await h.tenant('free', { customer_id: customer });
    const deliver = (body: string, signature: 'fresh' | string) =>
      call('/webhooks/orb', orbDelivery(body, signature === 'fresh' ? {} : { signature }));
    const changed = subscriptionEvent({
      id: unique('evt'),
      type: 'subscription.plan_changed',
      customer,
      plan: 'growth',
    });
    const delta = await moved(async () => {
      expect((await deliver(changed, 'fresh')).status).toBe(200);
      expect((await deliver(changed, 'fresh')).status).toBe(200);
      const other = subscriptionEvent({ id: unique('evt'), type: 'invoice.issued' });
      expect((await deliver(other, 'fresh')).status).toBe(200);
      expect((await deliver(changed, 'v1=00')).status).toBe(400);
      state.down = true;
      try {
        const later = subscriptionEvent({
          id: unique('evt'),
          type: 'subscription.started',
          customer,
          plan: 'free',
        });
        expect((await deliver(later, 'fresh')).status).toBe(503);
      } finally {
        state.down = false;
      }
    });
    const deliveries = 'billing_webhook_events_total';
    expect(delta(deliveries, { type: 'subscription.plan_changed', outcome: 'applied' })).toBe(1);
    expect(delta(deliveries, { type: 'subscription.plan_changed', outcome: 'duplicate' })).toBe(1);
    expect(delta(deliveries, { type: 'invoice.issued', outcome: 'ignored' })).toBe(1);
    expect(delta(deliveries, { type: 'unknown', outcome: 'refused' })).toBe(1);
    expect(delta(deliveries, { type: 'subscription.started', outcome: 'unavailable' })).toBe(1);
  });

  it('records http.server.request.duration by method, route template and status', async () => {
    const tenant = await tenantOn('free');
    const delta = await moved(async () => {
      await limits(tenant);
      await call(`/admin/tenants/${tenant}`, { headers: { authorization: `Bearer ${admin}` } });
      await call('/no/such/path');
      await call('/billing/limits', { method: 'PROPFIND' }); // a method Node parses, outside the conventions' list
    });
    const count = 'http_server_request_duration_count';
    expect(
      delta(count, {
        http_request_method: 'GET',
        http_route: '/billing/limits',
        http_response_status_code: '200',
        url_scheme: 'http',
      }),
    ).toBe(1);
    expect(delta(count, { http_route: '/admin/tenants/:tenantId', http_response_status_code: '200' })).toBe(
      1,
    );
    expect(delta(count, { http_request_method: '_OTHER' })).toBe(1);
    const samples = await scrape();
    const unmatched = samples.filter(
      (s) => s.name === count && s.labels['http_response_status_code'] === '404' && !s.labels['http_route'],
    );
    expect(unmatched.length).toBeGreaterThan(0);
    // Tenant ids never become label values.
    expect(samples.some((s) => Object.values(s.labels).some((v) => v.includes(tenant)))).toBe(false);
    const buckets = samples.filter(
      (s) => s.name === 'http_server_request_duration_bucket' && s.labels['http_route'] === '/billing/limits',
    );
    expect(new Set(buckets.map((s) => s.labels['le']))).toContain('0.005');
    expect(new Set(buckets.map((s) => s.labels['le']))).toContain('+Inf');
  });

  it('describes each metric with HELP, TYPE and, for the histogram, its unit', async () => {
    const text = await (await call('/metrics')).text();
    expect(text).toContain('# TYPE billing_limit_checks_total counter');
    expect(text).toContain('# TYPE billing_limit_violations_total counter');
    expect(text).toContain('# TYPE billing_cache_events_total counter');
    expect(text).toContain('# TYPE billing_webhook_events_total counter');
    expect(text).toContain('# TYPE http_server_request_duration histogram');
    expect(text).toContain('# UNIT http_server_request_duration s');
    expect(text).toContain('target_info{service_name="billing-limits-service"} 1');
  });
});

describe('where metrics are served', () => {
  const h = useHarness({ config: { disableAuth: true } });

  it('serves them at GET /metrics, or not at all on the app when they have a port of their own', async () => {
    const served = await h.request('/metrics');
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await served.text()).toContain('target_info{service_name="billing-limits-service"} 1');
    const elsewhere = h.withApp({ config: { metricsPort: 9464 } });
    const res = await elsewhere.request('/metrics');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ detail: 'Not Found' });
  });

  it('counts header-mode checks with source=header and the plan the header named', async () => {
    const app = h.withApp({});
    await app.request('/billing/limits', { headers: { 'tenant-id': 'org-1', 'x-plan-type': 'enterprise' } });
    const samples = parsePrometheus(await (await app.request('/metrics')).text());
    expect(
      sampleSum(samples, 'billing_limit_checks_total', {
        plan: 'enterprise',
        source: 'header',
        outcome: 'ok',
      }),
    ).toBe(1);
  });
});
