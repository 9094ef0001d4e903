/**
 * Every variable of the README's configuration table, observed through the running server
 * (`src/server.ts` started as `npm start` starts it): each is read from the environment, reaches
 * what it configures, and changes what a caller sees — a value away from its default, with the
 * default's behaviour seen beside it. A setting another spawned-server test already observes is
 * listed with that file; the first test keeps the list and the README's table the same.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { eq } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signAdminToken } from '../src/auth/admin-token.js';
import { signWorkerToken } from '../src/auth/worker-token.js';
import { openDatabase } from '../src/db/database.js';
import { billingEvent, webhookDelivery } from '../src/db/schema.js';
import { storeOver } from '../src/db/store.js';
import { eventually } from './support/eventually.js';
import {
  ADMIN_SECRET,
  engineToken,
  type Harness,
  ORB_SECRET,
  openHarness,
  STORE_KINDS,
  unique,
  WORKER_SECRET,
} from './support/harness.js';
import { orbDelivery, subscriptionEvent } from './support/orb.js';
import { parsePrometheus, sampleSum } from './support/prometheus.js';
import { freshPgliteDir, type RunningServer, spawnServer } from './support/spawn-server.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { startWebhookReceiver } from './support/webhook-receiver.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const HERE = 'test/settings.test.ts';

/** Where each variable of the README's table is observed through a spawned server. */
const OBSERVED_IN: Record<string, string> = {
  PORT: 'test/server.test.ts', // a port in use is refused naming PORT
  HOST: HERE,
  NODE_ENV: 'test/server.test.ts', // production refusals
  BILLING_JWT_SECRET: 'test/server.test.ts',
  BILLING_DISABLE_AUTH: 'test/server.test.ts',
  BILLING_PLAN_SOURCE: HERE,
  DATABASE_URL: HERE,
  BILLING_LISTEN_DATABASE_URL: 'test/db/pgbouncer.test.ts',
  BILLING_DATABASE_PREPARE: 'test/db/pgbouncer.test.ts',
  BILLING_DATA_DIR: 'test/server.test.ts',
  BILLING_SEED_DEMO: HERE,
  BILLING_ADMIN_SECRET: HERE,
  BILLING_CACHE_TTL_MS: HERE,
  BILLING_CACHE_MAX_ENTRIES: HERE,
  ORB_WEBHOOK_SECRET: HERE,
  ORB_DEFAULT_PLAN: HERE,
  BILLING_CLOCK_TOLERANCE_SECONDS: HERE,
  BILLING_TOKEN_CACHE_SIZE: HERE,
  LOG_LEVEL: HERE,
  BILLING_METRICS_PORT: HERE,
  BILLING_METRICS_HOST: HERE,
  OTEL_EXPORTER_OTLP_ENDPOINT: 'test/telemetry/tracing.test.ts',
  OTEL_SERVICE_NAME: 'test/telemetry/tracing.test.ts',
  BILLING_REQUEST_TIMEOUT_MS: HERE,
  BILLING_STORE_TIMEOUT_MS: HERE,
  BILLING_STALE_MAX_MS: HERE,
  BILLING_MAX_HEADER_BYTES: HERE,
  BILLING_SHUTDOWN_DELAY_MS: 'test/http/sigterm-under-load.test.ts',
  BILLING_SHUTDOWN_TIMEOUT_MS: HERE,
  BILLING_LEASE_SWEEP_MS: 'test/server.test.ts',
  BILLING_WEBHOOK_ALLOW_PRIVATE: HERE,
  BILLING_EVENT_RETENTION_DAYS: HERE,
  BILLING_ALERT_WARNING_PERCENT: HERE,
  BILLING_ALERT_HYSTERESIS_PERCENT: HERE,
};

/** The variables of the README's configuration table (its rows' first cells), in order. */
function readmeVariables(): string[] {
  const readme = readFileSync(`${root}/README.md`, 'utf8');
  const table = readme.slice(readme.indexOf('| `PORT` / `HOST` |'));
  const rows = table.slice(0, table.indexOf('\n\n')).split('\n');
  return rows.flatMap((row) =>
    [...(row.split('|')[1] ?? '').matchAll(/`([A-Z_]+)`/g)].map((m) => m[1] ?? ''),
  );
}

describe("the README's configuration table", () => {
  it('has every variable observed through a spawned server, in a file that sets it', () => {
    const variables = readmeVariables();
    expect(variables).toContain('BILLING_LEASE_SWEEP_MS');
    expect(new Set(variables)).toEqual(new Set(Object.keys(OBSERVED_IN)));
    for (const [variable, file] of Object.entries(OBSERVED_IN)) {
      const source = readFileSync(`${root}/${file}`, 'utf8');
      expect(source, `${variable} in ${file}`).toMatch(new RegExp(`\\b${variable}\\b`));
      expect(source, `${file} starts a server`).toMatch(/spawnServer\(|runServerToExit\(/);
    }
  });
});

/** The origin a line of the server's start-up output names (`listening on …`, `Metrics: …`). */
function printedOrigin(server: RunningServer, pattern: RegExp): string {
  const origin = pattern.exec(server.output())?.[1];
  if (!origin) throw new Error(`no ${pattern} in:\n${server.output()}`);
  return origin;
}

/** The value of one counter series in a scrape of `url`. */
async function counter(url: string, name: string, labels: Record<string, string>): Promise<number> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return sampleSum(parsePrometheus(await res.text()), name, labels);
}

/** The log lines (JSON) the server printed so far that `match`. */
function logLines(server: RunningServer, match: (line: Record<string, unknown>) => boolean) {
  return server
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter(match);
}

/**
 * Writes `head` on a fresh connection and resolves with the first line the server answers,
 * or `no answer` when it says nothing within `waitMs` (the socket is closed either way).
 */
function firstLineAfter(origin: string, head: string, waitMs: number): Promise<string> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let received = '';
    const done = (line: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(line);
    };
    const timer = setTimeout(() => done('no answer'), waitMs);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('\r\n')) done(received.slice(0, received.indexOf('\r\n')));
    });
    socket.on('error', () => done('connection error'));
    socket.write(head);
  });
}

describe('a server on the embedded store with settings away from their defaults', () => {
  let server: RunningServer;
  let origin: string;
  let metricsOrigin: string;
  const adminHeaders = async () => ({
    authorization: `Bearer ${await signAdminToken(ADMIN_SECRET, { subject: 'alice' })}`,
  });

  beforeAll(async () => {
    server = await spawnServer({
      HOST: '127.0.0.3',
      BILLING_JWT_SECRET: WORKER_SECRET,
      BILLING_ADMIN_SECRET: ADMIN_SECRET,
      BILLING_PLAN_SOURCE: 'header',
      BILLING_SEED_DEMO: 'false',
      BILLING_CLOCK_TOLERANCE_SECONDS: '120',
      BILLING_TOKEN_CACHE_SIZE: '0',
      LOG_LEVEL: 'debug',
      BILLING_MAX_HEADER_BYTES: '4096',
      BILLING_METRICS_PORT: '0',
      BILLING_METRICS_HOST: '127.0.0.2',
      ORB_WEBHOOK_SECRET: ORB_SECRET,
      ORB_DEFAULT_PLAN: 'growth',
      BILLING_WEBHOOK_ALLOW_PRIVATE: 'true',
      BILLING_ALERT_WARNING_PERCENT: '50',
      BILLING_ALERT_HYSTERESIS_PERCENT: '20',
    });
    origin = printedOrigin(server, /listening on (\S+) /);
    metricsOrigin = printedOrigin(server, /Metrics: (\S+)\/metrics/);
  });
  afterAll(async () => {
    expect(await server?.stop()).toBe(0);
  });

  it('HOST: listens on that address', () => {
    expect(new URL(origin).hostname).toBe('127.0.0.3');
  });

  it('BILLING_PLAN_SOURCE=header: answers the plan x-plan-type names, for a tenant the store does not know', async () => {
    const res = await fetch(`${origin}/billing/limits`, {
      headers: {
        authorization: `Bearer ${await engineToken()}`,
        'tenant-id': unique(),
        'x-plan-type': 'growth',
      },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { limits: unknown }).limits).toEqual({
      deployments: 5,
      self_hosted_workers: null,
      plan_type: 'growth',
    });
  });

  it('BILLING_SEED_DEMO=false and BILLING_ADMIN_SECRET: the admin API is on, and no demo tenant was made', async () => {
    const res = await fetch(`${origin}/admin/tenants/org-123`, { headers: await adminHeaders() });
    expect({ status: res.status, body: await res.json() }).toEqual({
      status: 404,
      body: { detail: 'Tenant not found' },
    });
  });

  it('BILLING_WEBHOOK_ALLOW_PRIVATE=true: a loopback endpoint is accepted, and gets signed events', async () => {
    const receiver = await startWebhookReceiver();
    const created = await fetch(`${origin}/admin/webhook-endpoints`, {
      method: 'POST',
      headers: { ...(await adminHeaders()), 'content-type': 'application/json' },
      body: JSON.stringify({ url: receiver.url }),
    });
    expect(created.status).toBe(201);
    const { secret } = (await created.json()) as { secret: string };
    const tenant = unique();
    const put = await fetch(`${origin}/admin/tenants/${tenant}`, {
      method: 'PUT',
      headers: { ...(await adminHeaders()), 'content-type': 'application/json' },
      body: JSON.stringify({ plan_id: 'growth' }),
    });
    expect(put.status).toBe(200);
    await eventually(() => receiver.payloads(tenant).length === 1);
    const [request] = receiver.received;
    expect(
      new Webhook(secret).verify(request?.body ?? '', request?.headers as Record<string, string>),
    ).toMatchObject({ type: 'limits.changed', data: { tenant_id: tenant, before: null, cause: 'admin' } });
  });

  it('BILLING_ALERT_WARNING_PERCENT=50, BILLING_ALERT_HYSTERESIS_PERCENT=20: warned at half the limit, resolved below 30 %', async () => {
    const receiver = await startWebhookReceiver();
    const created = await fetch(`${origin}/admin/webhook-endpoints`, {
      method: 'POST',
      headers: { ...(await adminHeaders()), 'content-type': 'application/json' },
      body: JSON.stringify({
        url: receiver.url,
        events: ['limit.warning', 'limit.reached', 'limit.resolved'],
      }),
    });
    expect(created.status).toBe(201);
    const tenant = unique();
    const put = await fetch(`${origin}/admin/tenants/${tenant}`, {
      method: 'PUT',
      headers: { ...(await adminHeaders()), 'content-type': 'application/json' },
      body: JSON.stringify({ plan_id: 'free', overrides: { deployments: 10 } }),
    });
    expect(put.status).toBe(200);
    const headers = { authorization: `Bearer ${await engineToken()}`, 'tenant-id': tenant };
    const reserve = async (quantity: number) => {
      const res = await fetch(`${origin}/billing/reservations`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ resource: 'deployments', quantity, idempotency_key: unique('key') }),
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { reservation_id: string }).reservation_id;
    };
    const release = async (id: string) =>
      expect(
        (await fetch(`${origin}/billing/reservations/${id}`, { method: 'DELETE', headers })).status,
      ).toBe(204);
    const [three, two] = [await reserve(3), await reserve(2)]; // 5 of 10: 50 % (the default warns at 80 %)
    await release(two); // 3: 30 %, not below 50 − 20 (the default would resolve below 40 %)
    await release(three); // 0
    await eventually(() => receiver.payloads(tenant).length === 2);
    expect(receiver.payloads(tenant).map(({ type, data }) => [type, data['used'], data['limit']])).toEqual([
      ['limit.warning', 5, 10],
      ['limit.resolved', 0, 10],
    ]);
  });

  it('BILLING_CLOCK_TOLERANCE_SECONDS=120: accepts a token that expired a minute ago', async () => {
    const expiredAMinuteAgo = await engineToken({ exp: Math.floor(Date.now() / 1000) - 60 });
    const res = await fetch(`${origin}/billing/limits`, {
      headers: { authorization: `Bearer ${expiredAMinuteAgo}`, 'tenant-id': 'org-1' },
    });
    expect(res.status).toBe(200);
  });

  it('BILLING_TOKEN_CACHE_SIZE=0: verifies the same token on every request, never from a cache', async () => {
    const token = await signWorkerToken(WORKER_SECRET);
    const checks = (result: string) =>
      counter(`${metricsOrigin}/metrics`, 'billing_token_checks_total', { token: 'worker', result });
    const verifiedBefore = await checks('verified');
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${origin}/billing/limits`, {
        headers: { authorization: `Bearer ${token}`, 'tenant-id': 'org-1' },
      });
      expect(res.status).toBe(200);
    }
    expect(await checks('verified')).toBe(verifiedBefore + 3);
    expect(await checks('cached')).toBe(0);
  });

  it('BILLING_METRICS_PORT and BILLING_METRICS_HOST: metrics on their own address only', async () => {
    expect(new URL(metricsOrigin).hostname).toBe('127.0.0.2');
    expect((await fetch(`${metricsOrigin}/metrics`)).status).toBe(200);
    const onApiPort = await fetch(`${origin}/metrics`);
    expect({ status: onApiPort.status, body: await onApiPort.json() }).toEqual({
      status: 404,
      body: { detail: 'Not Found' },
    });
    const otherAddress = `http://127.0.0.3:${new URL(metricsOrigin).port}/metrics`;
    await expect(fetch(otherAddress)).rejects.toThrow();
  });

  it('LOG_LEVEL=debug: logs probes too (info leaves them out)', async () => {
    expect((await fetch(`${origin}/healthz`)).status).toBe(200);
    // Logs are buffered on their way to stdout: the line follows.
    await eventually(() => logLines(server, (line) => line['path'] === '/healthz').length > 0, 15_000, 100);
  });

  it('BILLING_MAX_HEADER_BYTES=4096: refuses 6 KB of headers with 431', async () => {
    const headers = { authorization: `Bearer ${await engineToken()}`, 'tenant-id': 'org-1' };
    expect(
      (await fetch(`${origin}/billing/limits`, { headers: { ...headers, 'x-pad': 'a'.repeat(2_000) } }))
        .status,
    ).toBe(200);
    const line = await firstLineAfter(
      origin,
      `GET /billing/limits HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(6_000)}\r\n\r\n`,
      15_000,
    );
    expect(line).toBe('HTTP/1.1 431 Request Header Fields Too Large');
  });

  it('ORB_WEBHOOK_SECRET and ORB_DEFAULT_PLAN=growth: an ended subscription moves its customer to growth', async () => {
    const tenant = unique();
    const put = await fetch(`${origin}/admin/tenants/${tenant}`, {
      method: 'PUT',
      headers: { ...(await adminHeaders()), 'content-type': 'application/json' },
      body: JSON.stringify({ plan_id: 'enterprise' }),
    });
    expect(put.status).toBe(200);
    const delivery = orbDelivery(
      subscriptionEvent({ id: unique('evt'), type: 'subscription.ended', customer: tenant }),
    );
    const webhook = await fetch(`${origin}/webhooks/orb`, delivery);
    expect(webhook.status).toBe(200);
    const after = await fetch(`${origin}/admin/tenants/${tenant}`, { headers: await adminHeaders() });
    expect(((await after.json()) as { plan_id: string }).plan_id).toBe('growth');
  });
});

describe('a server on an embedded store holding sent events of several ages', () => {
  it('BILLING_EVENT_RETENTION_DAYS=3: deletes the events sent more than 3 days ago at start, with their deliveries', async () => {
    const dataDir = freshPgliteDir();
    const handle = await openDatabase({ dataDir });
    let endpointId: string;
    try {
      const store = await storeOver(handle);
      endpointId = (
        await store.outbox.createEndpoint(
          { url: 'https://93.184.215.14/hook', events: null, description: '', secret: 'whsec_AAAA' },
          'test',
        )
      ).id;
      // One delivery per event (the outbox's trigger), all delivered: only their age tells them apart.
      for (const [tenantId, daysAgo] of [
        ['org-ten-days', 10],
        ['org-two-days', 2],
      ] as const) {
        const [event] = await handle.db
          .insert(billingEvent)
          .values({ type: 'limits.changed', tenantId, data: {} })
          .returning({ sequence: billingEvent.sequence });
        await handle.db
          .update(billingEvent)
          .set({ createdAt: new Date(Date.now() - daysAgo * 86_400_000) })
          .where(eq(billingEvent.sequence, event?.sequence ?? 0));
      }
      await handle.db.update(webhookDelivery).set({ status: 'delivered' });
    } finally {
      await handle.close();
    }
    const server = await spawnServer({
      BILLING_DATA_DIR: dataDir,
      BILLING_JWT_SECRET: WORKER_SECRET,
      BILLING_ADMIN_SECRET: ADMIN_SECRET,
      BILLING_EVENT_RETENTION_DAYS: '3',
    });
    try {
      const origin = printedOrigin(server, /listening on (\S+) /);
      const tenantsDelivered = async () => {
        const res = await fetch(`${origin}/admin/webhook-endpoints/${endpointId}/deliveries`, {
          headers: { authorization: `Bearer ${await signAdminToken(ADMIN_SECRET, { subject: 'alice' })}` },
        });
        const { deliveries } = (await res.json()) as { deliveries: { tenant_id: string }[] };
        return deliveries.map((delivery) => delivery.tenant_id).join(',');
      };
      await eventually(async () => (await tenantsDelivered()) === 'org-two-days');
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});

describe('a server on the embedded store with the cache and shutdown settings changed', () => {
  let server: RunningServer;
  let origin: string;
  const headersOf = async (tenant: string) => ({
    authorization: `Bearer ${await engineToken()}`,
    'tenant-id': tenant,
  });
  const cacheEvents = (result: string) =>
    counter(`${origin}/metrics`, 'billing_cache_events_total', { result });

  beforeAll(async () => {
    server = await spawnServer({
      BILLING_JWT_SECRET: WORKER_SECRET,
      BILLING_CACHE_MAX_ENTRIES: '1',
      BILLING_CACHE_TTL_MS: '4000',
      BILLING_SHUTDOWN_TIMEOUT_MS: '300',
    });
    origin = printedOrigin(server, /listening on (\S+) /);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('defaults: seeds the demo tenants, serves metrics on the API port, remembers verified tokens, logs no probes', async () => {
    const token = await signWorkerToken(WORKER_SECRET);
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${origin}/billing/limits`, {
        headers: { authorization: `Bearer ${token}`, 'tenant-id': 'org-123' },
      });
      expect(res.status).toBe(200);
    }
    const checks = await counter(`${origin}/metrics`, 'billing_token_checks_total', {
      token: 'worker',
      result: 'cached',
    });
    expect(checks).toBeGreaterThan(0);
    expect((await fetch(`${origin}/healthz`)).status).toBe(200);
    // A request after the probe is logged; once it is there, the probe would have been too.
    await fetch(`${origin}/billing/limits`, { headers: await headersOf('org-123') });
    await eventually(
      () => logLines(server, (line) => line['path'] === '/billing/limits').length >= 3,
      15_000,
      100,
    );
    expect(logLines(server, (line) => line['path'] === '/healthz')).toEqual([]);
  });

  it('BILLING_CACHE_MAX_ENTRIES=1: a second tenant pushes the first out of the cache', async () => {
    const read = async (tenant: string) =>
      expect((await fetch(`${origin}/billing/limits`, { headers: await headersOf(tenant) })).status).toBe(
        200,
      );
    await read('org-456');
    const [hits, misses] = [await cacheEvents('hit'), await cacheEvents('miss')];
    await read('org-456'); // remembered…
    await read('org-789'); // …until another takes its place
    await read('org-456');
    expect({ hits: (await cacheEvents('hit')) - hits, misses: (await cacheEvents('miss')) - misses }).toEqual(
      {
        hits: 1,
        misses: 2,
      },
    );
  });

  it('BILLING_CACHE_TTL_MS=4000: a remembered answer is read from the store again once it is older', async () => {
    const read = async () =>
      expect((await fetch(`${origin}/billing/limits`, { headers: await headersOf('org-123') })).status).toBe(
        200,
      );
    await read();
    const misses = await cacheEvents('miss');
    // The default TTL (5 minutes) would keep answering from memory past this wait.
    await eventually(
      async () => {
        await read();
        return (await cacheEvents('miss')) > misses;
      },
      30_000,
      500,
    );
  });

  it('BILLING_SHUTDOWN_TIMEOUT_MS=300: a request still arriving at SIGTERM is cut after it, exit code 1', async () => {
    const { hostname, port } = new URL(origin);
    const socket = connect(Number(port), hostname);
    socket.on('error', () => {});
    // Headers whole, the body never sent: in flight until the request timeout (10 s by default).
    // `100 Continue` tells that the server has the request.
    const continued = new Promise<string>((resolve) =>
      socket.once('data', (chunk: Buffer) => resolve(chunk.toString())),
    );
    socket.write(
      'POST /billing/checks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Content-Length: 100\r\nExpect: 100-continue\r\n\r\n',
    );
    expect(await continued).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);
    expect(await server.stop()).toBe(1);
    socket.destroy();
    expect(
      logLines(server, (line) => line['msg'] === 'requests still running at the shutdown timeout were cut'),
    ).toEqual([expect.objectContaining({ level: 'warn', timeout_ms: 300 })]);
  });
});

describe.runIf(STORE_KINDS.includes('postgres'))(
  'a server on PostgreSQL (DATABASE_URL, through a proxy that can stall it) with its timeouts changed',
  () => {
    let h: Harness;
    let closeHarness: (() => Promise<void>) | undefined;
    let proxy: TcpProxy;
    let server: RunningServer;
    let origin: string;
    const limitsOf = async (tenant: string) => {
      const res = await fetch(`${origin}/billing/limits`, {
        headers: { authorization: `Bearer ${await engineToken()}`, 'tenant-id': tenant },
      });
      return { status: res.status, body: (await res.json()) as unknown };
    };

    beforeAll(async () => {
      ({ harness: h, close: closeHarness } = await openHarness({ store: 'postgres' }));
      const url = new URL(h.database.url ?? '');
      proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
      server = await spawnServer({
        DATABASE_URL: proxy.through(url.toString()),
        BILLING_JWT_SECRET: WORKER_SECRET,
        BILLING_STORE_TIMEOUT_MS: '200',
        // Shorter than the default store timeout (2 s): unwired, a stalled read would be cut by
        // this instead, and answered `Request timed out`.
        BILLING_REQUEST_TIMEOUT_MS: '1900',
        BILLING_STALE_MAX_MS: '3000',
      });
      origin = printedOrigin(server, /listening on (\S+) /);
    });
    afterAll(async () => {
      proxy?.resume();
      await server?.stop();
      await proxy?.close();
      await closeHarness?.();
    });

    it('DATABASE_URL: reads the tenants of that database', async () => {
      const tenant = await h.tenant('enterprise');
      expect(await limitsOf(tenant)).toMatchObject({
        status: 200,
        body: { limits: { plan_type: 'enterprise' } },
      });
    });

    it('BILLING_REQUEST_TIMEOUT_MS=1900: a request whose headers never end is answered 408', async () => {
      // The default (10 s) would leave it unanswered past this wait.
      expect(await firstLineAfter(origin, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 8_000)).toBe(
        'HTTP/1.1 408 Request Timeout',
      );
    });

    it('BILLING_STORE_TIMEOUT_MS=200 and BILLING_STALE_MAX_MS=3000: a stalled store is given up on, then reported away', async () => {
      const cached = await h.tenant('growth');
      const neverRead = await h.tenant('free');
      expect((await limitsOf(cached)).status).toBe(200);
      proxy.stall();
      try {
        expect(await limitsOf(neverRead)).toEqual({
          status: 503,
          body: { detail: 'Limits store unavailable' },
        });
        // Degraded at first; past the stale limit since the store last answered, unavailable
        // (the default, 15 minutes, would keep it degraded past this wait).
        await eventually(async () => (await fetch(`${origin}/readyz`)).status === 503, 20_000, 250);
        const readiness = await fetch(`${origin}/readyz`);
        expect(await readiness.json()).toEqual({ detail: 'Limits store unavailable' });
        expect(await limitsOf(cached)).toEqual({ status: 503, body: { detail: 'Limits store unavailable' } });
      } finally {
        proxy.resume();
      }
    });
  },
);
