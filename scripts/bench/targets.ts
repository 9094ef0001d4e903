/**
 * What `npm run bench` measures: one entry per target. A target says how to serve (in a child
 * process of its own), what to ask (the same request for all but the tRPC and cold-cache ones),
 * what a correct answer is, which of the goals it is held to, and whether it can run here.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { serve } from '@hono/node-server';
import type autocannon from 'autocannon';
import { Hono } from 'hono';
import pino from 'pino';
import { createBillingApp } from '../../src/app.js';
import { openDatabase } from '../../src/db/database.js';
import { customer, organizationToAccount } from '../../src/db/schema.js';
import { openBillingStore } from '../../src/db/store.js';
import type { BillingStore } from '../../src/domain/store.js';
import { listen as listenDrainable } from '../../src/http/node-server.js';
import { createLogger } from '../../src/telemetry/logger.js';
import type { PrometheusMetrics } from '../../src/telemetry/metrics.js';

export const TENANT = 'org-456';
export const LIMITS_BODY =
  '{"tenant_id":"org-456","limits":{"deployments":5,"self_hosted_workers":null,"plan_type":"growth"}}';
export const COLD_TENANTS = 10_000;

export interface BenchRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Also what the one-off answer check (a `fetch`) asks. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  /**
   * Requests that vary (another tenant each time, a grant then its release): autocannon's own
   * request list, which may rewrite each request in `setupRequest` and read answers in `onResponse`.
   */
  sequence?: autocannon.Request[];
}

export interface TargetContext {
  port: number;
  secret: string;
  /** The run's PostgreSQL database (`billing_bench`, kept between runs), when reachable. */
  databaseUrl: string | undefined;
  /** Store reads made by the served app, for the report. */
  countStoreRead(): void;
}

export interface Target {
  name: string;
  description: string;
  /** Ratios are measured against the target marked as the baseline. */
  baseline?: boolean;
  /**
   * The goals for this target: ratios to the baseline's req/s, p99 and server CPU per
   * request; absolute req/s and CPU; and what a feature costs, as this target's CPU per request
   * minus another's (the same service without it).
   */
  goals?: {
    minRpsRatio?: number;
    maxP99Ratio?: number;
    maxCpuRatio?: number;
    minRps?: number;
    maxCpuMicros?: number;
    costComparedTo?: { target: string; what: string; maxMicros: number };
  };
  /**
   * The requests that make one unit of work when it takes more than one (a grant and its release),
   * in order: the report adds that work's rate and server CPU per unit to the per-request figures.
   */
  cycle?: readonly string[];
  /** Why the target can't run here, or undefined when it can. */
  unavailable?(databaseUrl: string | undefined): string | undefined;
  request(token: string): BenchRequest;
  /** Whether a 2xx body is the right answer: checked once before measuring and on every answer under load. */
  isCorrectBody(body: string): boolean;
  /** Runs in the child process: listen on `port` and resolve once serving. */
  serve(context: TargetContext): Promise<void>;
}

const exactly = (expected: string) => (body: string) => body === expected;

/** The goals for a cached limits check: a share of bare Hono's req/s, at most a multiple of its CPU. */
const serviceGoals = (minRpsRatio: number, maxCpuRatio: number) => ({
  minRpsRatio,
  maxP99Ratio: 2,
  maxCpuRatio,
});

const limitsRequest = (token: string): BenchRequest => ({
  path: '/billing/limits',
  headers: { 'tenant-id': TENANT, 'x-plan-type': 'growth', authorization: `Bearer ${token}` },
});

function listen(app: Hono, port: number): Promise<void> {
  return new Promise((resolve) => {
    serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve());
  });
}

function counted(store: BillingStore, count: () => void): BillingStore {
  const { tenants } = store;
  return {
    ...store,
    tenants: {
      ...tenants,
      findTenant: (tenantId) => {
        count();
        return tenants.findTenant(tenantId);
      },
    },
  };
}

/**
 * What a served app records besides its answer. `full`: as `npm start` runs it — a JSON log line
 * per request at info (buffered as the server's stdout is, written to /dev/null), metrics, the
 * request deadline, and the server's own listener with its drain accounting and request limits.
 * `no-logs`: the same at log level `warn`. `none`: no logs, metrics recorded nowhere, no deadline,
 * a plain listener — the A/B baseline for what telemetry costs (the request id stays: it is part
 * of every answer).
 */
type Telemetry = 'full' | 'no-logs' | 'none';

const NO_METRICS: PrometheusMetrics = {
  contentType: 'text/plain',
  limitCheck() {},
  limitViolation() {},
  reservationExpired() {},
  preflightCheck() {},
  tokenCheck() {},
  cacheEvent() {},
  webhookEvent() {},
  webhookDelivery() {},
  httpRequest() {},
  observeStore() {},
  invalidationMode() {},
  observeOutbox() {},
  observeChangeStreams() {},
  scrape: async () => '',
  shutdown: async () => {},
};

async function serveService(
  context: TargetContext,
  options: { planSource: 'header' | 'database'; postgres?: boolean; telemetry?: Telemetry },
) {
  const telemetry = options.telemetry ?? 'full';
  const store = await openBillingStore({
    url: options.postgres ? context.databaseUrl : undefined,
    seedDemo: true,
  });
  const requestTimeoutMs = telemetry === 'none' ? 0 : 10_000;
  const app = createBillingApp({
    config: { jwtSecret: context.secret, planSource: options.planSource, requestTimeoutMs },
    dependencies: {
      store: counted(store, context.countStoreRead),
      logger: createLogger({
        level: telemetry === 'full' ? 'info' : 'warn',
        // Buffered and written as the server writes its standard output (src/telemetry/logger.ts).
        destination: pino.destination({ dest: '/dev/null', sync: true, minLength: 4096 }),
      }),
      ...(telemetry === 'none' ? { metrics: NO_METRICS } : {}),
    },
  });
  if (telemetry === 'none') await listen(app, context.port);
  else await listenAsServer(app, context.port, requestTimeoutMs);
}

/** Served as `src/server.ts` serves: its listener, request limits and drain accounting. */
async function listenAsServer(app: Hono, port: number, requestTimeoutMs: number): Promise<void> {
  await listenDrainable(app.fetch, { port, hostname: '127.0.0.1', maxHeaderBytes: 16_384, requestTimeoutMs });
}

const coldTenant = (i: number) => `bench-tenant-${i % COLD_TENANTS}`;
const [beforeTenant = '', afterTenant = ''] = LIMITS_BODY.split(TENANT);
const coldBodyStart = `${beforeTenant}bench-tenant-`;
/** The limits body for any one of the cold tenants. */
const isColdTenantBody = (body: string) =>
  body.startsWith(coldBodyStart) &&
  body.endsWith(afterTenant) &&
  /^\d+$/.test(body.slice(coldBodyStart.length, body.length - afterTenant.length));

export const RESERVATION_TENANTS = 64;
const reservationTenant = (i: number) => `bench-reserve-${i % RESERVATION_TENANTS}`;
/** The lease the lease targets grant and renew: long enough that none ends during a run. */
export const BENCH_LEASE_SECONDS = 60;

/**
 * A reservation's life, a request each step: grant, then — given `leaseSeconds` — renew the
 * lease, then release what was granted. Each connection works on one of 64 unlimited tenants — one
 * tenant's grants serialize on its usage row, by design.
 */
function reservationRequests(token: string, leaseSeconds?: number): BenchRequest {
  let nextKey = 0;
  let nextTenant = 0;
  // Keys of their own: the reservation and lease targets of one run share a PostgreSQL database,
  // and a key seen with another request (no lease) would be refused (422).
  const keyPrefix = `bench-${randomBytes(6).toString('hex')}`;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const lease = leaseSeconds === undefined ? {} : { lease_seconds: leaseSeconds };
  const grant = () =>
    JSON.stringify({ resource: 'deployments', idempotency_key: `${keyPrefix}-${nextKey++}`, ...lease });
  const connections = new Map<object, { tenant: string; reservation?: string }>();
  const connection = (context: object) => {
    let state = connections.get(context);
    if (!state) {
      state = { tenant: reservationTenant(nextTenant++) };
      connections.set(context, state);
    }
    return state;
  };
  return {
    method: 'POST',
    path: '/billing/reservations',
    headers: { ...headers, 'tenant-id': reservationTenant(0) },
    body: grant(),
    sequence: [
      {
        method: 'POST',
        path: '/billing/reservations',
        setupRequest: (req, context) => ({
          ...req,
          headers: { ...req.headers, 'tenant-id': connection(context).tenant },
          body: grant(),
        }),
        onResponse: (_status, body, context) => {
          connection(context).reservation = (JSON.parse(body) as { reservation_id?: string }).reservation_id;
        },
      },
      ...(leaseSeconds === undefined ? [] : [ofGranted(connection, 'POST', '/renew', JSON.stringify(lease))]),
      ofGranted(connection, 'DELETE'),
    ],
  };
}

/** A request about the reservation this connection was granted last: `…/{id}{suffix}`. */
function ofGranted(
  connection: (context: object) => { tenant: string; reservation?: string },
  method: 'POST' | 'DELETE',
  suffix = '',
  body?: string,
): autocannon.Request {
  return {
    method,
    setupRequest: (req, context) => {
      const { tenant, reservation } = connection(context);
      return {
        ...req,
        headers: { ...req.headers, 'tenant-id': tenant },
        path: `/billing/reservations/${reservation}${suffix}`,
        ...(body === undefined ? {} : { body }),
      };
    },
  };
}

async function serveReservations(context: TargetContext, postgres: boolean) {
  const store = await openBillingStore({ url: postgres ? context.databaseUrl : undefined });
  for (let i = 0; i < RESERVATION_TENANTS; i++) {
    if (!(await store.tenants.findTenant(reservationTenant(i)))) {
      await store.tenants.putTenant(reservationTenant(i), { plan_id: 'enterprise' }, 'bench');
    }
  }
  await listen(
    createBillingApp({ config: { jwtSecret: context.secret }, dependencies: { store } }),
    context.port,
  );
}

const needsPostgres = (databaseUrl: string | undefined) =>
  databaseUrl ? undefined : 'no PostgreSQL (set DATABASE_URL or TEST_DATABASE_URL)';

export const TARGETS: Target[] = [
  {
    name: 'node-http',
    description: 'bare node:http, fixed body (ceiling)',
    request: limitsRequest,
    isCorrectBody: exactly(LIMITS_BODY),
    async serve({ port }) {
      const server = createServer((_, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(LIMITS_BODY);
      });
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
  },
  {
    name: 'hono',
    description: 'bare Hono on @hono/node-server, fixed body (baseline)',
    baseline: true,
    request: limitsRequest,
    isCorrectBody: exactly(LIMITS_BODY),
    async serve({ port }) {
      const body = JSON.parse(LIMITS_BODY) as object;
      const app = new Hono();
      app.get('/billing/limits', (c) => c.json(body));
      await listen(app, port);
    },
  },
  {
    name: 'header',
    description:
      'service as npm start runs it (logs, metrics, deadline), header plan source (catalog from PGlite, cached)',
    goals: serviceGoals(0.6, 2),
    request: limitsRequest,
    isCorrectBody: exactly(LIMITS_BODY),
    serve: (context) => serveService(context, { planSource: 'header' }),
  },
  {
    name: 'database-pglite',
    description: 'service as npm start runs it, database plan source, PGlite, warm cache',
    goals: serviceGoals(0.6, 2),
    request: limitsRequest,
    isCorrectBody: exactly(LIMITS_BODY),
    serve: (context) => serveService(context, { planSource: 'database' }),
  },
  {
    name: 'database-postgres',
    description: 'service as npm start runs it, database plan source, PostgreSQL, warm cache',
    goals: serviceGoals(0.6, 2),
    unavailable: needsPostgres,
    request: limitsRequest,
    isCorrectBody: exactly(LIMITS_BODY),
    serve: (context) => serveService(context, { planSource: 'database', postgres: true }),
  },
  {
    name: 'no-logs',
    description: 'database-pglite with the log level at warn (no request log)',
    goals: {
      costComparedTo: {
        target: 'no-telemetry',
        what: 'telemetry (request id, metrics, deadline, drain accounting)',
        maxMicros: 10,
      },
    },
    request: limitsRequest,
    isCorrectBody: exactly(LIMITS_BODY),
    serve: (context) => serveService(context, { planSource: 'database', telemetry: 'no-logs' }),
  },
  {
    name: 'no-telemetry',
    description: 'database-pglite with no logs, no metrics, no deadline, a plain listener (the A/B baseline)',
    request: limitsRequest,
    isCorrectBody: exactly(LIMITS_BODY),
    serve: (context) => serveService(context, { planSource: 'database', telemetry: 'none' }),
  },
  {
    name: 'trpc',
    description: 'service as npm start runs it, GET /trpc/billing.limits (database, PGlite, warm)',
    goals: serviceGoals(0.5, 3),
    request: (token) => ({
      path: `/trpc/billing.limits?input=${encodeURIComponent(JSON.stringify({ tenantId: TENANT, planType: 'growth' }))}`,
      headers: { authorization: `Bearer ${token}` },
    }),
    isCorrectBody: exactly(`{"result":{"data":${LIMITS_BODY}}}`),
    serve: (context) => serveService(context, { planSource: 'database' }),
  },
  {
    name: 'cold-postgres',
    description: `service, PostgreSQL, every request another of ${COLD_TENANTS} tenants (cache smaller than the set: every request a miss)`,
    unavailable: needsPostgres,
    request: (token) => {
      let next = 0;
      const request = limitsRequest(token);
      return {
        ...request,
        // The answer check asks for a tenant of its own seed: the demo tenants may not be in this database.
        headers: { ...request.headers, 'tenant-id': coldTenant(0) },
        sequence: [
          {
            setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'tenant-id': coldTenant(next++) } }),
          },
        ],
      };
    },
    isCorrectBody: isColdTenantBody,
    async serve(context) {
      const handle = await openDatabase({ url: context.databaseUrl });
      // Bench data, inserted in bulk rather than through the audited admin path (once per bench database).
      await handle.db
        .insert(customer)
        .values({ id: 'bench-customer', planId: 'growth' })
        .onConflictDoNothing();
      for (let i = 0; i < COLD_TENANTS; i += 1_000) {
        const rows = Array.from({ length: Math.min(1_000, COLD_TENANTS - i) }, (_, j) => ({
          organizationId: coldTenant(i + j),
          customerId: 'bench-customer',
        }));
        await handle.db.insert(organizationToAccount).values(rows).onConflictDoNothing();
      }
      await handle.close();
      const store = await openBillingStore({ url: context.databaseUrl });
      const app = createBillingApp({
        config: { jwtSecret: context.secret, cacheMaxEntries: 1_000 },
        dependencies: { store: counted(store, context.countStoreRead) },
      });
      await listen(app, context.port);
    },
  },
  ...(['pglite', 'postgres'] as const).flatMap((store): Target[] => {
    const where = store === 'pglite' ? 'PGlite' : 'PostgreSQL';
    const serve = (context: TargetContext) => serveReservations(context, store === 'postgres');
    const here = store === 'postgres' ? { unavailable: needsPostgres } : {};
    return [
      {
        name: `reservations-${store}`,
        description: `service, grant then release (POST + DELETE) over ${RESERVATION_TENANTS} tenants, ${where}`,
        // Before: 472 requests/s at 1,856 µs of CPU each (bench/results/2026-11-25.md).
        ...(store === 'postgres' ? { goals: { minRps: 3 * 472, maxCpuMicros: 600 } } : {}),
        ...here,
        cycle: ['grant', 'release'],
        request: (token) => reservationRequests(token),
        isCorrectBody: (body) => body === '' || body.includes('"reservation_id"'),
        serve,
      },
      {
        name: `leases-${store}`,
        description: `service, grant with a ${BENCH_LEASE_SECONDS} s lease, renew, release (POST + POST + DELETE) over ${RESERVATION_TENANTS} tenants, ${where}`,
        ...here,
        cycle: [`grant (lease_seconds ${BENCH_LEASE_SECONDS})`, 'renew', 'release'],
        request: (token) => reservationRequests(token, BENCH_LEASE_SECONDS),
        // A grant and a renewal both answer the lease's end; a release answers nothing (204).
        isCorrectBody: (body) =>
          body === '' || (body.includes('"reservation_id"') && /"expires_at":"[^"]+"/.test(body)),
        serve,
      },
    ];
  }),
];
