/**
 * A REST client generated from the checked-in openapi.json by tools that know nothing of this
 * service — openapi-typescript for the types, openapi-fetch for the calls — as a consumer in
 * another project (or another language's generator) would build one. In a scratch project under
 * the repository's node_modules/.cache (so `openapi-fetch` and `@types/node` resolve from the
 * repository): the generated `api.d.ts` and a program calling every operation of the document
 * type-check under `tsc --strict` (no `skipLibCheck`: the generated declarations are checked
 * too); a program that breaks the document's contract does not; and the program, run against
 * the service on a loopback port, gets each operation's documented success status.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DrainableServer, listen } from '../../src/http/node-server.js';
import { ORB_SECRET, unique, useHarness } from '../support/harness.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const openapiJson = new URL('../../openapi.json', import.meta.url);

/** A whole `tsc --strict` pass over @types/node takes seconds, more on a busy machine. */
const COMPILE_TIMEOUT_MS = 120_000;

/**
 * The consumer's program: one call per operation, through the generated types, printing the
 * status each answered as one JSON line. Its settings come from the environment. (Plain string
 * concatenation inside, so it sits in this template literal unescaped.)
 */
const CALLS = `import { createHmac } from 'node:crypto';
import createClient from 'openapi-fetch';
import type { operations, paths } from './api.js';

function setting(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(name + ' is not set');
  return value;
}

const baseUrl = setting('BILLING_URL');
const tenantId = setting('TENANT_ID');
const customerId = setting('CUSTOMER_ID');
const worker = createClient<paths>({ baseUrl, headers: { Authorization: 'Bearer ' + setting('WORKER_TOKEN') } });
const admin = createClient<paths>({ baseUrl, headers: { Authorization: 'Bearer ' + setting('ADMIN_TOKEN') } });
// The webhook takes no bearer token (its security is []): Orb signs each delivery instead.
const orb = createClient<paths>({ baseUrl });

/** The HTTP status each operation answered, by operationId. */
const statuses: Partial<Record<keyof operations, number>> = {};

async function call<Result extends { response: Response }>(
  operationId: keyof operations,
  request: Promise<Result>,
): Promise<Result> {
  const result = await request;
  statuses[operationId] = result.response.status;
  return result;
}

/** The typed body of a call the next ones depend on. */
function dataOf<Data>(result: { data?: Data; response: Response }): Data {
  if (result.data === undefined) throw new Error('no data: ' + JSON.stringify(statuses));
  return result.data;
}

// An outbound endpoint first: the tenant's changes below are events for it.
const endpoint = dataOf(
  await call(
    'createWebhookEndpoint',
    admin.POST('/admin/webhook-endpoints', {
      body: { url: 'https://93.184.215.14/hook', events: ['limits.changed'], description: 'generated client' },
    }),
  ),
);
const endpointPath = { path: { endpointId: endpoint.endpoint_id } };

const tenant = { path: { tenantId } };
await call(
  'putTenant',
  admin.PUT('/admin/tenants/{tenantId}', {
    params: tenant,
    body: { plan_id: 'free', customer_id: customerId, overrides: { deployments: 3 } },
  }),
);
await call('getTenant', admin.GET('/admin/tenants/{tenantId}', { params: tenant }));
await call('listTenants', admin.GET('/admin/tenants', { params: { query: { query: tenantId, limit: 10 } } }));
await call('getTenantUsage', admin.GET('/admin/tenants/{tenantId}/usage', { params: tenant }));
await call('listAudit', admin.GET('/admin/audit', { params: { query: { subject_id: tenantId, limit: 10 } } }));
await call('listNearLimits', admin.GET('/admin/near-limits', { params: { query: { min_percent: 80 } } }));
await call('clearTenantOverrides', admin.DELETE('/admin/tenants/{tenantId}/overrides', { params: tenant }));

await call(
  'getBillingLimits',
  worker.GET('/billing/limits', { params: { header: { 'tenant-id': tenantId, 'x-plan-type': 'free' } } }),
);
// The change stream: its body stays open (it is a stream), so it is taken as one and let go.
const changes = await call(
  'streamBillingLimitsChanges',
  worker.GET('/billing/limits/changes', {
    params: { header: { 'tenant-id': tenantId, 'last-event-id': '0' } },
    parseAs: 'stream',
  }),
);
await changes.response.body?.cancel();
const engine = { header: { 'tenant-id': tenantId } };
await call('getBillingUsage', worker.GET('/billing/usage', { params: engine }));
await call('reconcileBillingUsage', worker.PUT('/billing/usage', { params: engine, body: { deployments: 0 } }));
const reservation = dataOf(
  await call(
    'createReservation',
    worker.POST('/billing/reservations', {
      params: engine,
      body: { resource: 'deployments', quantity: 1, idempotency_key: 'first-' + tenantId },
    }),
  ),
);
const lease = dataOf(
  await call(
    'createReservation',
    worker.POST('/billing/reservations', {
      params: engine,
      body: { resource: 'self_hosted_workers', idempotency_key: 'lease-' + tenantId, lease_seconds: 30 },
    }),
  ),
);
if (lease.expires_at === null) throw new Error('a lease without expires_at');
await call(
  'renewReservation',
  worker.POST('/billing/reservations/{reservationId}/renew', {
    params: { ...engine, path: { reservationId: lease.reservation_id } },
    body: { lease_seconds: 60 },
  }),
);
await call(
  'listReservations',
  worker.GET('/billing/reservations', { params: { ...engine, query: { state: 'active', limit: 10 } } }),
);
await call(
  'checkBillingUsage',
  worker.POST('/billing/checks', {
    params: engine,
    body: { checks: [{ resource: 'deployments', quantity: 2 }] },
  }),
);
await call('getBillingEntitlements', worker.GET('/billing/entitlements', { params: engine }));
await call(
  'releaseReservation',
  worker.DELETE('/billing/reservations/{reservationId}', {
    params: { ...engine, path: { reservationId: reservation.reservation_id } },
  }),
);

const plans = dataOf(await call('listPlans', admin.GET('/admin/plans')));
const growth = plans.find((plan) => plan.plan_id === 'growth');
if (!growth?.orb_external_plan_id) throw new Error('the growth plan has no Orb plan id');
await call(
  'setPlanLimits',
  admin.PUT('/admin/plans/{planId}', {
    params: { path: { planId: 'growth' } },
    body: { deployments: growth.deployments, self_hosted_workers: growth.self_hosted_workers },
  }),
);

// Orb moves the customer to the growth plan. The signature covers the exact bytes sent.
const event = {
  id: 'evt-' + tenantId,
  type: 'subscription.plan_changed',
  created_at: new Date().toISOString(),
  subscription: {
    customer: { external_customer_id: customerId },
    plan: { external_plan_id: growth.orb_external_plan_id },
  },
};
const rawBody = JSON.stringify(event);
const timestamp = new Date().toISOString().slice(0, -1); // Orb's form: UTC, no zone
const signature = createHmac('sha256', setting('ORB_WEBHOOK_SECRET'))
  .update('v1:' + timestamp + ':' + rawBody)
  .digest('hex');
await call(
  'receiveOrbWebhook',
  orb.POST('/webhooks/orb', {
    params: { header: { 'x-orb-timestamp': timestamp, 'x-orb-signature': 'v1=' + signature } },
    body: event,
    bodySerializer: () => rawBody,
  }),
);
await call(
  'listWebhookEvents',
  admin.GET('/admin/webhook-events', { params: { query: { customer_id: customerId } } }),
);
await call('getActivity', admin.GET('/admin/activity', { params: { query: { tenant_id: tenantId, hours: 24 } } }));
await call('listRefusals', admin.GET('/admin/refusals', { params: { query: { hours: 24, limit: 10 } } }));
await call(
  'replayWebhookEvent',
  admin.POST('/admin/webhook-events/{eventId}/replay', { params: { path: { eventId: event.id } } }),
);

await call('listWebhookEndpoints', admin.GET('/admin/webhook-endpoints'));
const { deliveries } = dataOf(
  await call(
    'listWebhookDeliveries',
    admin.GET('/admin/webhook-endpoints/{endpointId}/deliveries', {
      params: { ...endpointPath, query: { limit: 10 } },
    }),
  ),
);
const [delivery] = deliveries;
if (!delivery) throw new Error('no delivery of the changes to the tenant');
await call(
  'redeliverWebhookDelivery',
  admin.POST('/admin/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/redeliver', {
    params: { path: { endpointId: endpoint.endpoint_id, deliveryId: delivery.delivery_id } },
  }),
);
await call('deleteWebhookEndpoint', admin.DELETE('/admin/webhook-endpoints/{endpointId}', { params: endpointPath }));

console.log(JSON.stringify(statuses));
`;

/** A mistake a consumer could make: `CALLS` with `wrong` in place of `right`, which must not compile. */
interface WrongCall {
  name: string;
  right: string;
  wrong: string;
}

const WRONG_CALLS: WrongCall[] = [
  {
    name: 'a number for the tenant-id header',
    right: "{ 'tenant-id': tenantId, 'x-plan-type': 'free' }",
    wrong: "{ 'tenant-id': 42, 'x-plan-type': 'free' }",
  },
  {
    name: 'a path the document does not have',
    right: "worker.GET('/billing/usage',",
    wrong: "worker.GET('/billing/usages',",
  },
  {
    name: 'a request body without a required field (idempotency_key)',
    right: "body: { resource: 'deployments', quantity: 1, idempotency_key: 'first-' + tenantId },",
    wrong: "body: { resource: 'deployments', quantity: 1 },",
  },
  {
    name: 'a plan id outside the enum',
    right: "params: { path: { planId: 'growth' } },",
    wrong: "params: { path: { planId: 'gold' } },",
  },
  {
    name: 'a response field the document does not have',
    right: 'reservationId: reservation.reservation_id',
    wrong: 'reservationId: reservation.reservationId',
  },
];

/** The file a wrong call is written to: `wrong-a-number-for-the-tenant-id-header.ts`. */
const fileOf = (wrongCall: WrongCall) => `wrong-${wrongCall.name.replace(/[^a-z0-9]+/g, '-')}.ts`;

/** `CALLS` with one mistake, and the (1-based) line it is on. */
function withMistake({ right, wrong }: WrongCall): { source: string; line: number } {
  const at = CALLS.indexOf(right);
  // The mistake must be made exactly once, or the check would prove nothing.
  if (at < 0 || CALLS.indexOf(right, at + 1) >= 0) throw new Error(`not exactly one ${right} in CALLS`);
  return {
    source: CALLS.slice(0, at) + wrong + CALLS.slice(at + right.length),
    line: CALLS.slice(0, at).split('\n').length,
  };
}

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a Node.js script (with this test's Node.js) to its end. */
function runNode(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, options, (error, stdout, stderr) => {
      const exitCode = error ? error.code : 0;
      if (typeof exitCode === 'number') resolve({ exitCode, stdout, stderr });
      else reject(error);
    });
  });
}

/**
 * `tsc --strict --noEmit` as a Node.js project compiles (NodeNext, ES2022, Node's own types, no
 * DOM). Incremental: the second run reuses what the first found about the declarations.
 */
function typeCheck(cwd: string, files: string[]): Promise<Run> {
  const tsc = join(repo, 'node_modules/.bin/tsc');
  const options = ['--strict', '--noEmit', '--pretty', 'false', '--module', 'NodeNext'];
  options.push('--moduleResolution', 'NodeNext', '--target', 'ES2022', '--lib', 'ES2022', '--types', 'node');
  options.push('--incremental', '--tsBuildInfoFile', 'client.tsbuildinfo');
  return runNode([tsc, ...options, ...files], { cwd });
}

/** `file(line,column): error TSnnnn: …` lines of tsc's output, by file: the lines they are on. */
function errorLinesByFile(output: string): Map<string, number[]> {
  const byFile = new Map<string, number[]>();
  for (const [, file = '', line] of output.matchAll(/^(\S+?)\((\d+),\d+\): error TS\d+:/gm)) {
    byFile.set(file, [...(byFile.get(file) ?? []), Number(line)]);
  }
  return byFile;
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

/** Each operation of the document, by operationId: the success status it documents. */
function documentedSuccesses(): Record<string, number> {
  const document = JSON.parse(readFileSync(openapiJson, 'utf8')) as {
    paths: Record<string, Record<string, { operationId?: string; responses?: Record<string, unknown> }>>;
  };
  const successes: Record<string, number> = {};
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      if (!HTTP_METHODS.includes(method)) continue;
      const statuses = Object.keys(operation.responses ?? {}).filter((status) => /^2\d\d$/.test(status));
      if (!operation.operationId || statuses.length !== 1) {
        throw new Error(`${method} ${path}: expected an operationId and one 2xx response, got ${statuses}`);
      }
      successes[operation.operationId] = Number(statuses[0]);
    }
  }
  return successes;
}

describe('a client generated from openapi.json by openapi-typescript and openapi-fetch', () => {
  const h = useHarness({ store: 'pglite' });
  let project = '';
  let server: DrainableServer | undefined;

  beforeAll(async () => {
    const cache = join(repo, 'node_modules/.cache');
    mkdirSync(cache, { recursive: true });
    project = mkdtempSync(join(cache, 'openapi-client-'));
    // What `npx openapi-typescript openapi.json -o api.d.ts` writes, byte for byte.
    const types = `${COMMENT_HEADER}${astToString(await openapiTS(openapiJson))}`;
    writeFileSync(join(project, 'api.d.ts'), types);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
    writeFileSync(join(project, 'calls.ts'), CALLS);
    for (const wrongCall of WRONG_CALLS)
      writeFileSync(join(project, fileOf(wrongCall)), withMistake(wrongCall).source);
    server = await listen(h.app.fetch, { port: 0, hostname: '127.0.0.1' });
  });

  afterAll(async () => {
    await server?.close(5_000);
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it(
    'type-checks, generated declarations included, with tsc --strict',
    async () => {
      const { exitCode, stdout, stderr } = await typeCheck(project, ['calls.ts']);
      expect(`${stdout}${stderr}`).toBe('');
      expect(exitCode).toBe(0);
    },
    COMPILE_TIMEOUT_MS,
  );

  describe('does not compile a call the document does not allow', () => {
    // One tsc run over every wrong program: each is a module of its own, so each one's errors are its own.
    let checked: Promise<{ output: string; byFile: Map<string, number[]> }> | undefined;
    const compiled = () => {
      checked ??= typeCheck(
        project,
        WRONG_CALLS.map((wrongCall) => fileOf(wrongCall)),
      ).then(({ stdout, stderr }) => ({ output: stdout + stderr, byFile: errorLinesByFile(stdout) }));
      return checked;
    };

    it.each(WRONG_CALLS.map((wrongCall) => [wrongCall.name, wrongCall] as const))(
      '%s',
      async (_, wrongCall) => {
        const { output, byFile } = await compiled();
        const lines = byFile.get(fileOf(wrongCall)) ?? [];
        // Errors there, and only on the line with the mistake.
        expect(lines.length, output).toBeGreaterThan(0);
        expect(new Set(lines), output).toEqual(new Set([withMistake(wrongCall).line]));
      },
      COMPILE_TIMEOUT_MS,
    );
  });

  it('calls every operation of the document, and each answers its documented success status', async () => {
    const tenant = unique('org');
    const { exitCode, stdout, stderr } = await runNode(['--import', 'tsx', 'calls.ts'], {
      cwd: project,
      env: {
        PATH: process.env['PATH'] ?? '',
        BILLING_URL: server?.origin ?? '',
        WORKER_TOKEN: await h.workerToken(),
        ADMIN_TOKEN: await h.adminToken(),
        ORB_WEBHOOK_SECRET: ORB_SECRET,
        TENANT_ID: tenant,
        CUSTOMER_ID: unique('cus'),
      },
    });
    expect(exitCode, stderr).toBe(0);
    const answered: unknown = JSON.parse(stdout.trim().split('\n').at(-1) ?? 'null');
    // A new operation in the document fails this until the program above calls it.
    expect(answered).toEqual(documentedSuccesses());
    // The signed delivery went through as sent: Orb's plan change reached the tenant.
    expect(await h.limits(tenant)).toMatchObject({ plan_type: 'growth' });
  });
});
