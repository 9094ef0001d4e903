/**
 * The suite's one harness: the service as `createBillingApp` builds it, over a fresh database of
 * its own (PGlite always; PostgreSQL when TEST_DATABASE_URL is set) or none, with fixed test
 * secrets, a token signer of the tests' own (not the service's), a clock the test moves, a fresh
 * tenant per test, and teardown through vitest.
 *
 * `useHarness` opens one database per `describe` (beforeAll/afterAll): each test still works on
 * tenants of its own (`h.tenant`), so no test depends on data another seeded. `createHarness`
 * opens one for a single test (onTestFinished), for a test that changes what every tenant shares
 * (the plan catalog).
 *
 * @example
 * describe.each(STORE_KINDS)('reservations on %s', (kind) => {
 *   const h = useHarness({ store: kind });
 *   it('grants within the limit', async () => {
 *     const tenant = await h.tenant('free');
 *     expect((await h.limitsOf(tenant)).status).toBe(200);
 *   });
 * });
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Hono } from 'hono';
import { SignJWT } from 'jose';
import postgres from 'postgres';
import { afterAll, beforeAll, inject, onTestFinished } from 'vitest';
import {
  type BillingAppConfig,
  type BillingAppDependencies,
  type BillingAppHooks,
  createBillingApp,
} from '../../src/app.js';
import type { TenantUpdate } from '../../src/contract/admin.js';
import type { BillingLimitsResponse } from '../../src/contract/limits.js';
import type { PlanType } from '../../src/contract/plans.js';
import { type Database, openDatabase } from '../../src/db/database.js';
import { openBillingStore, storeOver } from '../../src/db/store.js';
import type { BillingStore } from '../../src/domain/store.js';
import { createLogger } from '../../src/telemetry/logger.js';

// ---- secrets and tokens -------------------------------------------------------------------------

/** The secret the Engine's worker tokens are signed with; every app the harness builds is given it. */
export const WORKER_SECRET = 'test-worker-secret-0123456789abcdef-000001';
/** The operators' secret (admin tokens); another secret than the workers', as in production. */
export const ADMIN_SECRET = 'test-admin-secret-0123456789abcdef-0000001';
/** The Orb webhook signing secret. */
export const ORB_SECRET = 'test-orb-webhook-secret-0123456789abcdef01';

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Signs any claims (any `alg` jose writes), with the worker secret unless told otherwise. */
export function sign(claims: Record<string, unknown>, options: { alg?: string; secret?: string } = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(options.secret ?? WORKER_SECRET));
}

/** A token as the Engine mints it (the original README's Python example), valid for an hour. */
export const engineToken = (overrides: Record<string, unknown> = {}, secret = WORKER_SECRET) =>
  sign({ ver: '1', aud: 'worker', iat: nowSeconds(), exp: nowSeconds() + 3600, ...overrides }, { secret });

/** A valid Engine token without some of its claims. */
export function engineTokenWithout(...claims: string[]) {
  const payload: Record<string, unknown> = {
    ver: '1',
    aud: 'worker',
    iat: nowSeconds(),
    exp: nowSeconds() + 3600,
  };
  for (const claim of claims) delete payload[claim];
  return sign(payload);
}

/** A worker token for `secret` (a server started with another secret, e.g. in a child process). */
export const workerToken = (secret = WORKER_SECRET) => engineToken({}, secret);

/** An operator's token as `npm run admin -- token` mints it: aud `billing-admin`, `sub` for the audit log. */
export const adminToken = ({ secret = ADMIN_SECRET, subject = 'alice' } = {}) =>
  sign({ aud: 'billing-admin', sub: subject, iat: nowSeconds(), exp: nowSeconds() + 3600 }, { secret });

// ---- names ----------------------------------------------------------------------------------

/** A name no other test uses: `org-1a2b3c4d`. */
export const unique = (prefix = 'org') => `${prefix}-${randomUUID().slice(0, 8)}`;

/** The path of a tRPC query with its input, as the typed client and plain HTTP callers send it. */
export const trpcPath = (procedure: string, input?: unknown) =>
  `/trpc/${procedure}${input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`}`;

// ---- the clock ------------------------------------------------------------------------------

/** The app's clock (`dependencies.now`), which the test moves forward. */
export interface TestClock {
  now(): number;
  /** Moves the clock forward: token expiry, webhook timestamps and cache TTLs see the time pass. */
  advance(ms: number): Promise<void>;
}

/**
 * Real time plus whatever the test moved it forward (what the harness's apps run on: the tokens a
 * test signs carry the real time), or, given `start`, a clock standing still at `start` but for
 * the test's moves.
 */
export function testClock(start?: number): TestClock {
  let offset = 0;
  const now = start === undefined ? () => Date.now() + offset : () => start + offset;
  return {
    now,
    async advance(ms) {
      offset += ms;
    },
  };
}

// ---- databases --------------------------------------------------------------------------------

export type StoreKind = 'pglite' | 'postgres';

const postgresUrl = process.env['TEST_DATABASE_URL'];

/** Every store test runs on PGlite, and on PostgreSQL too when TEST_DATABASE_URL is set. */
export const STORE_KINDS: StoreKind[] = postgresUrl ? ['pglite', 'postgres'] : ['pglite'];

export interface TestDatabase {
  readonly kind: StoreKind;
  /** PostgreSQL only: the URL of this database (a proxy in front of it, a child process, a second pool). */
  readonly url: string | undefined;
  /** Plain SQL on the same database, to set up what no API sets and to check what was written. */
  readonly db: Database;
  /** The store the harness's apps run on, and tests set up tenants through. */
  readonly store: BillingStore;
  /** PostgreSQL only: another connection pool and store on the same database — a second replica. */
  openReplica(): Promise<BillingStore>;
  close(): Promise<void>;
}

/** `create database … template …` fails while the template's last session is still ending: retried. */
async function createDatabase(server: postgres.Sql, name: string, template: string) {
  for (let attempt = 0; ; attempt++) {
    try {
      await server.unsafe(
        template ? `create database ${name} template ${template}` : `create database ${name}`,
      );
      return;
    } catch (error) {
      const objectInUse = (error as { code?: string }).code === '55006';
      if (!objectInUse || attempt >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/**
 * A fresh, migrated database of its own: a PGlite copy of a template, or a PostgreSQL database
 * created for it (from a migrated template) and dropped with it.
 */
export async function openTestDatabase(kind: StoreKind): Promise<TestDatabase> {
  if (kind === 'pglite') {
    const template = new Blob([readFileSync(inject('pgliteTemplate'))]);
    const handle = await openDatabase({ pgliteTemplate: template });
    const store = await storeOver(handle);
    return {
      kind,
      url: undefined,
      db: handle.db,
      store,
      openReplica: () => Promise.reject(new Error('PGlite has a single client: no second replica')),
      close: () => store.close(),
    };
  }
  if (!postgresUrl) throw new Error('TEST_DATABASE_URL is not set');
  const name = `billing_test_${randomBytes(6).toString('hex')}`;
  const server = postgres(postgresUrl, { max: 1, onnotice: () => {} });
  await createDatabase(server, name, inject('postgresTemplate'));
  const parsed = new URL(postgresUrl);
  parsed.pathname = `/${name}`;
  const url = parsed.toString();
  const handle = await openDatabase({ url, maxConnections: 20 });
  const store = await storeOver(handle);
  const replicas: BillingStore[] = [];
  return {
    kind,
    url,
    db: handle.db,
    store,
    async openReplica() {
      const replica = await openBillingStore({ url });
      replicas.push(replica);
      return replica;
    },
    async close() {
      await Promise.all([store.close(), ...replicas.map((replica) => replica.close())]);
      await server.unsafe(`drop database if exists ${name} with (force)`);
      await server.end();
    },
  };
}

// ---- the harness ------------------------------------------------------------------------------

/** What `createBillingApp` is given, over the harness's defaults. */
export interface AppOptions {
  config?: BillingAppConfig;
  dependencies?: BillingAppDependencies;
  hooks?: BillingAppHooks;
}

export interface HarnessOptions extends AppOptions {
  /** The app's store: a fresh database of this kind, or none (header mode, no admin or usage API). */
  store?: StoreKind | 'none';
}

export interface Harness {
  /** The service: `createBillingApp` with the test secrets, the store, a silent logger and `clock`. */
  readonly app: Hono;
  /** The clock this app runs on (each app its own), unless the test gave it its own `now`. */
  readonly clock: TestClock;
  /** The database (throws when the harness has none). */
  readonly database: TestDatabase;
  /** `database.store`: where tests set up tenants and check what was written. */
  readonly store: BillingStore;
  /** `database.db`: plain SQL on the same database. */
  readonly db: Database;
  /** A worker token (the Engine's), the same one for the harness's life. */
  workerToken(): Promise<string>;
  /** An admin token whose `sub` (the audit log's actor) is `subject`. */
  adminToken(subject?: string): Promise<string>;
  /** A fresh tenant on `planId`, created through the store; its customer is its own id unless `update` says. */
  tenant(planId: PlanType, update?: Omit<TenantUpdate, 'plan_id'>): Promise<string>;
  /** `app.request`, as is. */
  request(path: string, init?: RequestInit): Promise<Response>;
  /** A request with the worker token, unless `init` has an `Authorization` header of its own. */
  asWorker(path: string, init?: RequestInit): Promise<Response>;
  /** A request with an admin token, unless `init` has an `Authorization` header of its own. */
  asAdmin(path: string, init?: RequestInit): Promise<Response>;
  /** `GET /billing/limits` for `tenant` as the Engine asks it. */
  limitsOf(tenant: string, planType?: string): Promise<Response>;
  /** The limits `GET /billing/limits` answers for `tenant`; throws on anything but a 200. */
  limits(tenant: string): Promise<BillingLimitsResponse['limits']>;
  /**
   * Another app on the same database and tokens, with a clock of its own, built with `options`
   * over this one's (e.g. a store that fails, another cache TTL, hooks that record). A setting
   * given as `undefined` turns the harness's default off: `{ config: { adminSecret: undefined } }`.
   */
  withApp(options: AppOptions): Harness;
}

const silent = createLogger({ level: 'silent' });

function merged(base: AppOptions, over: AppOptions): AppOptions {
  return {
    config: { ...base.config, ...over.config },
    dependencies: { ...base.dependencies, ...over.dependencies },
    hooks: { ...base.hooks, ...over.hooks },
  };
}

function withAuthorization(init: RequestInit, token: Promise<string>): Promise<RequestInit> {
  const headers = new Headers(init.headers);
  if (headers.has('authorization')) return Promise.resolve(init);
  return token.then((value) => {
    headers.set('authorization', `Bearer ${value}`);
    return { ...init, headers };
  });
}

function harnessOf(database: TestDatabase | undefined, options: AppOptions): Harness {
  const clock = testClock();
  // No lease sweep and no webhook dispatcher unless a test turns them on: they would touch the
  // database every few seconds, under every other test's feet.
  const app = createBillingApp(
    merged({ config: { leaseSweepMs: 0 }, dependencies: { now: clock.now, dispatcher: false } }, options),
  );
  let worker: Promise<string> | undefined;
  const admins = new Map<string, Promise<string>>();
  const workerTokenOf = () => {
    worker ??= workerToken();
    return worker;
  };
  const adminTokenOf = (subject = 'alice') => {
    let token = admins.get(subject);
    if (!token) {
      token = adminToken({ subject });
      admins.set(subject, token);
    }
    return token;
  };
  const need = () => {
    if (!database) throw new Error('this harness has no database: open it with { store: "pglite" }');
    return database;
  };
  const request = async (path: string, init?: RequestInit) => app.request(path, init);
  const asWorker = async (path: string, init: RequestInit = {}) =>
    request(path, await withAuthorization(init, workerTokenOf()));
  const limitsOf = (tenant: string, planType?: string) =>
    asWorker('/billing/limits', {
      headers: { 'tenant-id': tenant, ...(planType === undefined ? {} : { 'x-plan-type': planType }) },
    });
  return {
    app,
    clock,
    get database() {
      return need();
    },
    get store() {
      return need().store;
    },
    get db() {
      return need().db;
    },
    workerToken: workerTokenOf,
    adminToken: adminTokenOf,
    async tenant(planId, update = {}) {
      const tenant = unique('org');
      await need().store.tenants.putTenant(tenant, { plan_id: planId, ...update }, 'test');
      return tenant;
    },
    request,
    asWorker,
    asAdmin: async (path, init = {}) => request(path, await withAuthorization(init, adminTokenOf())),
    limitsOf,
    async limits(tenant) {
      const res = await limitsOf(tenant);
      const text = await res.text();
      if (res.status !== 200) throw new Error(`GET /billing/limits for ${tenant}: ${res.status} ${text}`);
      return (JSON.parse(text) as BillingLimitsResponse).limits;
    },
    withApp: (over) => harnessOf(database, merged(options, over)),
  };
}

/** Opens the harness; the caller closes it (`useHarness` and `createHarness` do). */
export async function openHarness(
  options: HarnessOptions = {},
): Promise<{ harness: Harness; close(): Promise<void> }> {
  const { store: kind = 'none', ...app } = options;
  const database = kind === 'none' ? undefined : await openTestDatabase(kind);
  try {
    const defaults: AppOptions = {
      config: {
        jwtSecret: WORKER_SECRET,
        adminSecret: ADMIN_SECRET,
        // The webhook needs a store; an app without one has no webhook route.
        ...(database ? { orbWebhookSecret: ORB_SECRET } : {}),
      },
      dependencies: { store: database?.store, logger: silent },
    };
    const harness = harnessOf(database, merged(defaults, app));
    return { harness, close: async () => database?.close() };
  } catch (error) {
    await database?.close();
    throw error;
  }
}

/**
 * A harness for the tests of the current `describe` (or file): opened before its first test,
 * closed after its last. Read its members inside tests and hooks, not while tests are collected.
 */
export function useHarness(options: HarnessOptions = {}): Harness {
  let opened: Awaited<ReturnType<typeof openHarness>> | undefined;
  beforeAll(async () => {
    opened = await openHarness(options);
  });
  afterAll(async () => {
    await opened?.close();
    opened = undefined;
  });
  return new Proxy({} as Harness, {
    get(_, member) {
      if (!opened)
        throw new Error('useHarness: the harness opens in beforeAll; use it inside tests and hooks');
      return Reflect.get(opened.harness, member);
    },
  });
}

/** A harness of the current test's own (a database no other test sees), closed when the test ends. */
export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const { harness, close } = await openHarness(options);
  try {
    onTestFinished(close);
  } catch (error) {
    await close();
    throw error;
  }
  return harness;
}
