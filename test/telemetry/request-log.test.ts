import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PLAN_CATALOG } from '../../src/domain/limits/catalog.js';
import type { BillingStore } from '../../src/domain/store.js';
import { createLogger, type LogLevel, serializeError, throttledWarning } from '../../src/telemetry/logger.js';
import {
  ADMIN_SECRET,
  type AppOptions,
  type Harness,
  ORB_SECRET,
  trpcPath,
  useHarness,
  WORKER_SECRET,
} from '../support/harness.js';
import { orbDelivery, orbSignature, orbTimestamp, subscriptionEvent } from '../support/orb.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A logger whose lines are kept for the test to read. */
function capturedLogger(level: LogLevel = 'info') {
  const text: string[] = [];
  const logger = createLogger({ level, destination: { write: (line: string) => void text.push(line) } });
  return {
    logger,
    text: () => text.join(''),
    lines: () =>
      text
        .join('')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
  };
}

// One database for the file's tests that need a store; each works on tenants of its own.
const h = useHarness({ store: 'pglite' });

describe('request logs', () => {
  const withoutStore = useHarness();
  /** An app whose log lines the test reads: on the store, or (`withoutStore`) in header mode. */
  const withLogger = (log: ReturnType<typeof capturedLogger>, options: AppOptions = {}, on: Harness = h) =>
    on.withApp({ ...options, dependencies: { ...options.dependencies, logger: log.logger } });

  it('writes one line per request at info, with the request id it echoes back', async () => {
    const log = capturedLogger();
    const app = withLogger(log);
    const tenant = await h.tenant('growth');
    const res = await app.asWorker('/billing/limits', {
      headers: { 'tenant-id': tenant, 'x-request-id': 'req-42.a:b' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('req-42.a:b');
    const lines = log.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'info',
      service: 'billing-limits-service',
      req_id: 'req-42.a:b',
      method: 'GET',
      path: '/billing/limits',
      route: '/billing/limits',
      status: 200,
      tenant_id: tenant,
    });
    expect(typeof lines[0].duration_ms).toBe('number');
    expect(typeof lines[0].time).toBe('number');
  });

  it.each([
    ['absent', undefined],
    ['too long', 'x'.repeat(129)],
    ['with spaces', 'a b'],
    ['with a tab', 'a\tb'],
    ['with a quote', 'a"b'],
    ['empty', ''],
  ])('generates a request id when the given one is %s', async (_name, given) => {
    const log = capturedLogger();
    const app = withLogger(log, { config: { disableAuth: true } }, withoutStore);
    const res = await app.request('/billing/limits', {
      headers: { 'tenant-id': 'org-1', ...(given === undefined ? {} : { 'x-request-id': given }) },
    });
    const id = res.headers.get('x-request-id') ?? '';
    expect(id).toMatch(UUID);
    expect(log.lines()[0].req_id).toBe(id);
  });

  it('gives every request its own id, on errors and unknown paths too', async () => {
    const log = capturedLogger();
    const app = withLogger(log, {}, withoutStore);
    const answers = [
      await app.request('/billing/limits'),
      await app.request('/no/such/path'),
      await app.request('/billing/limits', { method: 'DELETE' }),
    ];
    const ids = answers.map((res) => res.headers.get('x-request-id'));
    expect(new Set(ids).size).toBe(3);
    expect(log.lines().map((line) => [line.status, line.route])).toEqual([
      [401, '/billing/limits'],
      [404, undefined],
      [405, undefined],
    ]);
  });

  it('logs probes and scrapes at debug, not info', async () => {
    const quiet = capturedLogger('info');
    const app = withLogger(quiet, { config: { disableAuth: true } }, withoutStore);
    for (const path of ['/healthz', '/readyz', '/metrics'])
      expect((await app.request(path)).status).toBe(200);
    expect(quiet.lines()).toEqual([]);

    const verbose = capturedLogger('debug');
    const debugApp = withLogger(verbose, { config: { disableAuth: true } }, withoutStore);
    await debugApp.request('/healthz');
    expect(verbose.lines()).toMatchObject([{ level: 'debug', route: '/healthz', status: 200 }]);
  });

  it('logs an unexpected error once, with the request id, and answers only "Internal Server Error"', async () => {
    const log = capturedLogger();
    // A catalog the output schema refuses (a negative limit): the procedure fails after auth and input.
    const catalog = { ...DEFAULT_PLAN_CATALOG, free: { deployments: -1, self_hosted_workers: 5 } };
    const app = withLogger(log, { config: { disableAuth: true }, dependencies: { catalog } }, withoutStore);
    const res = await app.request('/billing/limits', {
      headers: { 'tenant-id': 'org-x', 'x-request-id': 'trace-me' },
    });
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('{"detail":"Internal Server Error"}');
    const lines = log.lines();
    expect(lines.filter((line) => line.level === 'error')).toMatchObject([
      { req_id: 'trace-me', msg: 'unexpected error', err: { message: 'Output validation failed' } },
    ]);
    expect(lines.filter((line) => line.level === 'info')).toMatchObject([
      { req_id: 'trace-me', status: 500 },
    ]);
  });

  it('logs an unreachable store as a warning, at most once per 10 s, counting the rest', async () => {
    const log = capturedLogger();
    const down: BillingStore = {
      ...h.store,
      tenants: {
        ...h.store.tenants,
        findTenant: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432')),
      },
    };
    const app = withLogger(log, { dependencies: { store: down } });
    for (let i = 0; i < 3; i++) {
      const res = await app.asWorker('/billing/limits', { headers: { 'tenant-id': `org-${i}` } });
      expect(res.status).toBe(503);
    }
    const warnings = log.lines().filter((line) => line.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      msg: 'limits store unavailable',
      status: 503,
      suppressed: 0,
      err: { cause: { cause: { message: 'connect ECONNREFUSED 127.0.0.1:5432' } } },
    });
  });
});

describe('what never reaches a log line', () => {
  it('keeps tokens, secrets, webhook bodies and query parameters out of every line', async () => {
    const log = capturedLogger('trace');
    const bodyMarker = `body-marker-${randomUUID()}`;
    const paramMarker = `param-marker-${randomUUID()}`;
    const tenant = await h.tenant('free', { customer_id: `cus-${bodyMarker}` });
    // A store that fails the way drizzle does: the parameters are in the error's message.
    const failingUsage: BillingStore = {
      ...h.store,
      usage: {
        ...h.store.usage,
        usage: () =>
          Promise.reject(
            new DrizzleQueryError(
              'select * from usage_counter where organization_id = $1',
              [paramMarker],
              new Error('syntax error'),
            ),
          ),
      },
    };
    const app = h.withApp({ dependencies: { store: failingUsage, logger: log.logger } });
    const worker = await h.workerToken();
    const admin = await h.adminToken();
    const asWorker = { authorization: `Bearer ${worker}`, 'tenant-id': tenant };

    expect((await app.request('/billing/limits', { headers: asWorker })).status).toBe(200);
    // A failing query is an unavailable store (503), logged as a warning with its cause.
    expect((await app.request('/billing/usage', { headers: asWorker })).status).toBe(503);
    const badToken = `${worker.slice(0, -4)}AAAA`;
    expect(
      (
        await app.request('/billing/limits', {
          headers: { ...asWorker, authorization: `Bearer ${badToken}` },
        })
      ).status,
    ).toBe(401);
    expect(
      (await app.request(`/admin/tenants/${tenant}`, { headers: { authorization: `Bearer ${admin}` } }))
        .status,
    ).toBe(200);
    await app.request(trpcPath('billing.limits', { tenantId: tenant, secretish: bodyMarker }), {
      headers: asWorker,
    });

    const body = subscriptionEvent({
      id: `evt-${randomUUID()}`,
      type: 'subscription.plan_changed',
      customer: `cus-${bodyMarker}`,
      plan: 'growth',
    });
    const timestamp = orbTimestamp();
    const signature = orbSignature(ORB_SECRET, timestamp, body);
    const deliver = (sig: string, payload = body) =>
      app.request('/webhooks/orb', orbDelivery(payload, { timestamp, signature: sig }));
    expect((await deliver(signature)).status).toBe(200);
    expect((await deliver('v1=deadbeef')).status).toBe(400); // refused: logged as a warning with its reason
    const notJson = `not json ${bodyMarker}`;
    expect((await deliver(orbSignature(ORB_SECRET, timestamp, notJson), notJson)).status).toBe(400);

    const text = log.text();
    expect(log.lines().length).toBeGreaterThanOrEqual(8);
    expect(text).toContain('Failed query: select * from usage_counter where organization_id = $1');
    expect(text).toContain('No matching signature');
    for (const secret of [
      worker,
      badToken,
      admin,
      WORKER_SECRET,
      ADMIN_SECRET,
      ORB_SECRET,
      signature.slice(3),
      bodyMarker,
      paramMarker,
      'Bearer',
    ]) {
      expect(text, `the log contains ${secret.slice(0, 12)}…`).not.toContain(secret);
    }
  });
});

describe('the logger', () => {
  it('redacts secret-bearing keys at the top of a line and in headers, wherever a caller puts them', () => {
    const log = capturedLogger();
    log.logger.info(
      {
        authorization: 'Bearer a',
        token: 't',
        secret: 's',
        body: '{"raw":1}',
        'x-orb-signature': 'v1=ab',
        headers: { authorization: 'Bearer b', cookie: 'c' },
        req: { headers: { authorization: 'Bearer c' } },
        kept: 'visible',
      },
      'with secrets',
    );
    const [line] = log.lines();
    expect(line).toMatchObject({
      authorization: '[redacted]',
      token: '[redacted]',
      secret: '[redacted]',
      body: '[redacted]',
      'x-orb-signature': '[redacted]',
      headers: { authorization: '[redacted]', cookie: '[redacted]' },
      req: { headers: { authorization: '[redacted]' } },
      kept: 'visible',
    });
  });
});

describe('serializeError', () => {
  it('cuts query parameters out of a query error and of every error that wraps it', () => {
    const query = new DrizzleQueryError(
      'insert into webhook_event values ($1, $2)',
      ['evt_1', '{"raw":"BODY"}'],
      new Error('duplicate key'),
    );
    const wrapped = new TRPCError({ code: 'INTERNAL_SERVER_ERROR', cause: query });
    const text = JSON.stringify(serializeError(wrapped));
    expect(text).not.toContain('BODY');
    expect(text).not.toContain('evt_1');
    expect(text).toContain('Failed query: insert into webhook_event values ($1, $2)');
    expect(text).toContain('duplicate key');
  });

  it('keeps type, message, code and cause of ordinary errors', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(serializeError(new Error('store down', { cause }))).toMatchObject({
      type: 'Error',
      message: 'store down',
      cause: { type: 'Error', message: 'connect ECONNREFUSED', code: 'ECONNREFUSED' },
    });
    expect(serializeError('a string')).toEqual({ message: 'a string' });
  });
});

describe('throttledWarning', () => {
  it('logs the first, then one line per interval with the count left out', () => {
    const log = capturedLogger();
    let now = 0;
    const warn = throttledWarning(log.logger, 'store down', 1_000, () => now);
    warn({ n: 1 });
    now = 500;
    warn({ n: 2 });
    warn({ n: 3 });
    now = 1_000;
    warn({ n: 4 });
    expect(log.lines().map(({ n, suppressed, msg }) => ({ n, suppressed, msg }))).toEqual([
      { n: 1, suppressed: 0, msg: 'store down' },
      { n: 4, suppressed: 2, msg: 'store down' },
    ]);
  });
});
