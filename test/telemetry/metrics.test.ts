import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { TOKEN_CHECK_RESULTS } from '../../src/auth/token-verifier.js';
import { signWorkerToken } from '../../src/auth/worker-token.js';
import { CHECK_REASONS } from '../../src/contract/entitlements.js';
import { PLAN_TYPES } from '../../src/contract/plans.js';
import { Resource } from '../../src/contract/usage.js';
import { WEBHOOK_OUTCOMES } from '../../src/contract/webhooks.js';
import { PLAN_SOURCES } from '../../src/domain/limits/limits-source.js';
import { CACHE_EVENTS } from '../../src/domain/limits/read-through-cache.js';
import type { BillingStore } from '../../src/domain/store.js';
import { VIOLATION_KINDS } from '../../src/domain/usage/usage.js';
import { END_EVENT, PLAN_EVENT_TYPES } from '../../src/domain/webhooks/orb-events.js';
import { type DrainableServer, listen } from '../../src/http/node-server.js';
import { createPrometheusMetrics, LIMIT_CHECK_OUTCOMES, TOKEN_KINDS } from '../../src/telemetry/metrics.js';
import {
  ADMIN_SECRET,
  type Harness,
  trpcPath,
  unique,
  useHarness,
  WORKER_SECRET,
} from '../support/harness.js';
import { orbDelivery, subscriptionEvent } from '../support/orb.js';
import { parseFamilies, parsePrometheus, type Sample, sampleSum } from '../support/prometheus.js';

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

  it('counts each bearer token check: verified once, then accepted from the cache; refusals apart', async () => {
    const app = h.withApp({
      config: { disableAuth: false, jwtSecret: WORKER_SECRET, adminSecret: ADMIN_SECRET },
    });
    const worker = await signWorkerToken(WORKER_SECRET);
    const headers = { 'tenant-id': 'org-1', authorization: `Bearer ${worker}` };
    for (let i = 0; i < 3; i++) await app.request('/billing/limits', { headers });
    await app.request('/billing/limits', { headers: { ...headers, authorization: `Bearer ${worker}x` } });
    await app.request('/billing/limits', { headers: { 'tenant-id': 'org-1' } }); // no token: no check
    const uncached = h.withApp({
      config: { disableAuth: false, jwtSecret: WORKER_SECRET, tokenCacheSize: 0 },
    });
    for (let i = 0; i < 2; i++) await uncached.request('/billing/limits', { headers });
    const checks = async (of: typeof app) => {
      const samples = parsePrometheus(await (await of.request('/metrics')).text());
      return Object.fromEntries(
        TOKEN_CHECK_RESULTS.map((result) => [
          result,
          onlyValue(samples, 'billing_token_checks_total', { token: 'worker', result }),
        ]),
      );
    };
    expect(await checks(app)).toEqual({ cached: 2, verified: 1, refused: 1 });
    expect(await checks(uncached)).toEqual({ cached: 0, verified: 2, refused: 0 });
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

/** Every family the service exports, and its Prometheus type. */
const FAMILIES = {
  billing_limit_checks_total: 'counter',
  billing_limit_violations_total: 'counter',
  billing_reservations_expired_total: 'counter',
  billing_preflight_checks_total: 'counter',
  billing_token_checks_total: 'counter',
  billing_cache_events_total: 'counter',
  billing_webhook_events_total: 'counter',
  http_server_request_duration: 'histogram',
  billing_store_up: 'gauge',
  billing_store_unreachable_seconds: 'gauge',
  billing_invalidation_mode: 'gauge',
};

/**
 * How many series each counter exports before anything happened: every combination known in
 * advance, counted from the lists the service takes its labels from. Limit checks: each plan and
 * `none` × each source × each outcome. Webhooks: each event type that can change a plan × each
 * outcome but `refused` (a refused delivery is never read), and `unknown` × `refused`.
 */
const DECLARED_COUNTS = {
  billing_limit_checks_total: (PLAN_TYPES.length + 1) * PLAN_SOURCES.length * LIMIT_CHECK_OUTCOMES.length,
  billing_limit_violations_total: Resource.options.length * PLAN_TYPES.length * VIOLATION_KINDS.length,
  billing_reservations_expired_total: Resource.options.length,
  billing_preflight_checks_total: Resource.options.length * CHECK_REASONS.length,
  billing_token_checks_total: TOKEN_KINDS.length * TOKEN_CHECK_RESULTS.length,
  billing_cache_events_total: CACHE_EVENTS.length,
  billing_webhook_events_total: [...PLAN_EVENT_TYPES, END_EVENT].length * (WEBHOOK_OUTCOMES.length + 2) + 1,
};

/** One declared series of each counter, spelled out, so the counts above can't pass on their own. */
const DECLARED_EXAMPLES = [
  'billing_limit_checks_total{plan="none",source="database",outcome="unavailable"} 0',
  'billing_limit_checks_total{plan="enterprise",source="header",outcome="ok"} 0',
  'billing_limit_violations_total{resource="self_hosted_workers",plan="growth",kind="soft"} 0',
  'billing_reservations_expired_total{resource="self_hosted_workers"} 0',
  'billing_preflight_checks_total{resource="deployments",reason="overage_cap_exceeded"} 0',
  'billing_token_checks_total{token="admin",result="refused"} 0',
  'billing_cache_events_total{result="stale"} 0',
  'billing_webhook_events_total{type="subscription.plan_changed",outcome="unmapped_plan"} 0',
  'billing_webhook_events_total{type="unknown",outcome="refused"} 0',
];

/** The gauges an app has values for only once it has a store. */
const STORE_GAUGES = ['billing_store_up', 'billing_store_unreachable_seconds', 'billing_invalidation_mode'];

const countOf = (samples: readonly Sample[], name: string) => samples.filter((s) => s.name === name).length;

/** The samples of `name` whose labels include `labels`. */
const seriesOf = (samples: readonly Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

/** The value of the one sample of `name` with `labels`; fails when there is none, or more. */
function onlyValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}) {
  const found = seriesOf(samples, name, labels);
  expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
  return found[0]?.value;
}

describe.each(['pglite', 'none'] as const)('the first scrape of a fresh app (store: %s)', (store) => {
  const h = useHarness({ store });

  it('declares every family with HELP and TYPE, and every counter series known in advance at 0', async () => {
    const text = await (await h.withApp({}).request('/metrics')).text();
    const families = parseFamilies(text);
    for (const [name, type] of Object.entries(FAMILIES)) {
      expect(families.get(name)?.type, name).toBe(type);
      expect(families.get(name)?.help, name).toMatch(/\S/);
    }
    const samples = parsePrometheus(text);
    for (const [name, count] of Object.entries(DECLARED_COUNTS)) {
      expect(countOf(samples, name), name).toBe(count);
      const labelSets = new Set(samples.filter((s) => s.name === name).map((s) => JSON.stringify(s.labels)));
      expect(labelSets.size, `${name}: no label set twice`).toBe(count);
      expect(sampleSum(samples, name), name).toBe(0);
    }
    for (const line of DECLARED_EXAMPLES) expect(text.split('\n')).toContain(line);
    // The scrape records its own duration once it has answered.
    expect(countOf(samples, 'http_server_request_duration_count')).toBe(0);
  });
});

describe('an app without a store', () => {
  const h = useHarness({ store: 'none' });

  it('exports no store or invalidation-mode series: there is no store to be up or down', async () => {
    const samples = parsePrometheus(await (await h.withApp({}).request('/metrics')).text());
    for (const name of STORE_GAUGES) expect(countOf(samples, name), name).toBe(0);
  });
});

describe('the store and invalidation-mode gauges', () => {
  /** Metrics of the test's own, shut down when it ends. */
  function freshMetrics() {
    const metrics = createPrometheusMetrics();
    onTestFinished(() => metrics.shutdown());
    return { metrics, scrape: async () => parsePrometheus(await metrics.scrape()) };
  }

  it('exports no store or mode series before they are set, the families still declared', async () => {
    const text = await freshMetrics().metrics.scrape();
    const samples = parsePrometheus(text);
    for (const name of STORE_GAUGES) {
      expect(countOf(samples, name), name).toBe(0);
      expect(parseFamilies(text).get(name)?.type, name).toBe('gauge');
    }
  });

  it("reads the store's state once per scrape and follows it", async () => {
    const { metrics, scrape } = freshMetrics();
    const state = { up: true, unreachableSeconds: 0 };
    let reads = 0;
    metrics.observeStore(() => {
      reads++;
      return { ...state };
    });
    let samples = await scrape();
    expect(reads).toBe(1);
    expect(onlyValue(samples, 'billing_store_up')).toBe(1);
    expect(onlyValue(samples, 'billing_store_unreachable_seconds')).toBe(0);

    Object.assign(state, { up: false, unreachableSeconds: 12.5 });
    samples = await scrape();
    expect(reads).toBe(2);
    expect(onlyValue(samples, 'billing_store_up')).toBe(0);
    expect(onlyValue(samples, 'billing_store_unreachable_seconds')).toBe(12.5);

    Object.assign(state, { up: true, unreachableSeconds: 0 });
    samples = await scrape();
    expect(onlyValue(samples, 'billing_store_up')).toBe(1);
    expect(onlyValue(samples, 'billing_store_unreachable_seconds')).toBe(0);
    expect(await metrics.scrape()).toContain('\nbilling_store_up 1\n');
  });

  it('exports 1 for the invalidation mode in force and 0 for the other, as last set', async () => {
    const { metrics, scrape } = freshMetrics();
    metrics.invalidationMode('notify');
    let samples = await scrape();
    expect(countOf(samples, 'billing_invalidation_mode')).toBe(2);
    expect(onlyValue(samples, 'billing_invalidation_mode', { mode: 'notify' })).toBe(1);
    expect(onlyValue(samples, 'billing_invalidation_mode', { mode: 'ttl' })).toBe(0);

    metrics.invalidationMode('ttl');
    const text = await metrics.scrape();
    samples = parsePrometheus(text);
    expect(onlyValue(samples, 'billing_invalidation_mode', { mode: 'notify' })).toBe(0);
    expect(onlyValue(samples, 'billing_invalidation_mode', { mode: 'ttl' })).toBe(1);
    expect(text.split('\n')).toContain('billing_invalidation_mode{mode="ttl"} 1');
  });
});

describe('a declared series counts its first event', () => {
  const h = useHarness({ store: 'pglite' });

  it('moves from 0 to 1 at the first violation and the first webhook deliveries, no series added', async () => {
    const app = h.withApp({});
    const customer = unique('cus');
    const tenant = await h.tenant('growth', { customer_id: customer, overrides: { deployments: 0 } });
    const before = parsePrometheus(await (await app.request('/metrics')).text());
    const hard = { resource: 'deployments', plan: 'growth', kind: 'hard' };
    const applied = { type: 'subscription.plan_changed', outcome: 'applied' };
    const refused = { type: 'unknown', outcome: 'refused' };
    expect(onlyValue(before, 'billing_limit_violations_total', hard)).toBe(0);
    expect(onlyValue(before, 'billing_webhook_events_total', applied)).toBe(0);
    expect(onlyValue(before, 'billing_webhook_events_total', refused)).toBe(0);

    const reserved = await app.asWorker('/billing/reservations', {
      method: 'POST',
      headers: { 'tenant-id': tenant, 'content-type': 'application/json' },
      body: JSON.stringify({ resource: 'deployments', idempotency_key: 'd-1' }),
    });
    expect(reserved.status).toBe(409);
    const changed = subscriptionEvent({
      id: unique('evt'),
      type: 'subscription.plan_changed',
      customer,
      plan: 'free',
    });
    expect((await app.request('/webhooks/orb', orbDelivery(changed))).status).toBe(200);
    expect((await app.request('/webhooks/orb', orbDelivery(changed, { signature: 'v1=00' }))).status).toBe(
      400,
    );

    const after = parsePrometheus(await (await app.request('/metrics')).text());
    expect(onlyValue(after, 'billing_limit_violations_total', hard)).toBe(1);
    expect(onlyValue(after, 'billing_webhook_events_total', applied)).toBe(1);
    expect(onlyValue(after, 'billing_webhook_events_total', refused)).toBe(1);
    for (const name of ['billing_limit_violations_total', 'billing_webhook_events_total'] as const) {
      expect(countOf(after, name), name).toBe(DECLARED_COUNTS[name]);
    }
  });
});
