/**
 * What `npm run bench` measures: one entry per target. A target says how to serve (run in a child
 * process of its own), what to ask (the same request for all but the tRPC and cold-cache ones),
 * what a correct answer is, and whether it can run here.
 */
import { createServer } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createBillingApp } from '../../src/app.js';
import { openDatabase } from '../../src/db/database.js';
import { createLimitsStore } from '../../src/db/limits-store.js';
import { openLimitsStore } from '../../src/db/open-store.js';
import { customer, organizationToAccount } from '../../src/db/schema.js';
import type { LimitsStore } from '../../src/limits/limits-store.js';

export const TENANT = 'org-456';
export const LIMITS_BODY =
  '{"tenant_id":"org-456","limits":{"deployments":5,"self_hosted_workers":null,"plan_type":"growth"}}';
export const COLD_TENANTS = 10_000;

export interface BenchRequest {
  path: string;
  headers: Record<string, string>;
  /** Varies the tenant per request (cold cache): `tenant-id` is taken from here in turn. */
  tenants?: string[];
}

export interface TargetContext {
  port: number;
  secret: string;
  /** A PostgreSQL database of the run's own (created and dropped by the harness), when reachable. */
  databaseUrl: string | undefined;
  /** Store reads made by the served app, for the cold-cache report. */
  countStoreRead(): void;
}

export interface Target {
  name: string;
  description: string;
  /** Ratios are measured against the target marked as the baseline. */
  baseline?: boolean;
  /** Why the target can't run here, or undefined when it can. */
  unavailable?(databaseUrl: string | undefined): string | undefined;
  request(token: string): BenchRequest;
  /** The exact body a correct answer has (checked once before measuring). */
  expectedBody?: string;
  /** Runs in the child process: listen on `port` and resolve once serving. */
  serve(context: TargetContext): Promise<void>;
}

const limitsRequest = (token: string): BenchRequest => ({
  path: '/billing/limits',
  headers: { 'tenant-id': TENANT, 'x-plan-type': 'growth', authorization: `Bearer ${token}` },
});

function listen(app: Hono, port: number): Promise<void> {
  return new Promise((resolve) => {
    serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve());
  });
}

function counted(store: LimitsStore, count: () => void): LimitsStore {
  return {
    ...store,
    findTenant: (tenantId) => {
      count();
      return store.findTenant(tenantId);
    },
  };
}

async function serveService(
  context: TargetContext,
  options: { planSource: 'header' | 'database'; postgres?: boolean; cacheMaxEntries?: number },
) {
  const store = await openLimitsStore({
    url: options.postgres ? context.databaseUrl : undefined,
    seedDemo: true,
  });
  const app = createBillingApp({
    secret: context.secret,
    store: counted(store, context.countStoreRead),
    planSource: options.planSource,
    cacheMaxEntries: options.cacheMaxEntries,
  });
  await listen(app, context.port);
}

const needsPostgres = (databaseUrl: string | undefined) =>
  databaseUrl ? undefined : 'no PostgreSQL (set DATABASE_URL or TEST_DATABASE_URL)';

export const TARGETS: Target[] = [
  {
    name: 'node-http',
    description: 'bare node:http, fixed body (ceiling)',
    request: limitsRequest,
    expectedBody: LIMITS_BODY,
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
    expectedBody: LIMITS_BODY,
    async serve({ port }) {
      const body = JSON.parse(LIMITS_BODY) as object;
      const app = new Hono();
      app.get('/billing/limits', (c) => c.json(body));
      await listen(app, port);
    },
  },
  {
    name: 'header',
    description: 'service, header plan source (catalog from PGlite, cached)',
    request: limitsRequest,
    expectedBody: LIMITS_BODY,
    serve: (context) => serveService(context, { planSource: 'header' }),
  },
  {
    name: 'database-pglite',
    description: 'service, database plan source, PGlite, warm cache',
    request: limitsRequest,
    expectedBody: LIMITS_BODY,
    serve: (context) => serveService(context, { planSource: 'database' }),
  },
  {
    name: 'database-postgres',
    description: 'service, database plan source, PostgreSQL, warm cache',
    unavailable: needsPostgres,
    request: limitsRequest,
    expectedBody: LIMITS_BODY,
    serve: (context) => serveService(context, { planSource: 'database', postgres: true }),
  },
  {
    name: 'trpc',
    description: 'service, GET /trpc/billing.limits (database, PGlite, warm)',
    request: (token) => ({
      path: `/trpc/billing.limits?input=${encodeURIComponent(JSON.stringify({ tenantId: TENANT, planType: 'growth' }))}`,
      headers: { authorization: `Bearer ${token}` },
    }),
    expectedBody: `{"result":{"data":${LIMITS_BODY}}}`,
    serve: (context) => serveService(context, { planSource: 'database' }),
  },
  {
    name: 'cold-postgres',
    description: `service, PostgreSQL, every request another of ${COLD_TENANTS} tenants (cache smaller than the set: every request a miss)`,
    unavailable: needsPostgres,
    request: (token) => ({
      ...limitsRequest(token),
      tenants: Array.from({ length: COLD_TENANTS }, (_, i) => `bench-tenant-${i}`),
    }),
    async serve(context) {
      const handle = await openDatabase({ url: context.databaseUrl });
      const store = await createLimitsStore(handle);
      // Bench data, inserted in bulk rather than through the audited admin path (once per bench database).
      await handle.db
        .insert(customer)
        .values({ id: 'bench-customer', planId: 'growth' })
        .onConflictDoNothing();
      for (let i = 0; i < COLD_TENANTS; i += 1_000) {
        const rows = Array.from({ length: Math.min(1_000, COLD_TENANTS - i) }, (_, j) => ({
          organizationId: `bench-tenant-${i + j}`,
          customerId: 'bench-customer',
        }));
        await handle.db.insert(organizationToAccount).values(rows).onConflictDoNothing();
      }
      const app = createBillingApp({
        secret: context.secret,
        store: counted(store, context.countStoreRead),
        cacheMaxEntries: 1_000,
      });
      await listen(app, context.port);
    },
  },
];
