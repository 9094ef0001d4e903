/**
 * Our procedure runner (`src/api/procedures.ts`, which reads tRPC's internals) held to tRPC's own
 * caller: every procedure of the router, on the same inputs, must answer the same output or fail
 * with the same code and cause — so a tRPC upgrade that changes the internals fails here, loudly.
 */
import { randomUUID } from 'node:crypto';
import { initTRPC, TRPCError } from '@trpc/server';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { BillingContext, BillingServices } from '../../src/api/context.js';
import { type ProcedureEntry, proceduresOf } from '../../src/api/procedures.js';
import { type AppRouter, createCaller } from '../../src/api/router.js';
import { router, workerProcedure } from '../../src/api/trpc.js';
import { ADMIN_AUDIENCE } from '../../src/auth/admin-token.js';
import { bearerTokenFrom } from '../../src/auth/authorization-header.js';
import { AuthenticationError } from '../../src/auth/errors.js';
import { createTokenVerifier } from '../../src/auth/token-verifier.js';
import { WORKER_AUDIENCE, WORKER_TOKEN_VERSION } from '../../src/auth/worker-token.js';
import { BillingLimitsInput, BillingLimitsResponse } from '../../src/contract/limits.js';
import { DomainError } from '../../src/domain/errors.js';
import { createAdministration } from '../../src/domain/limits/administration.js';
import { createLimitsSource, type LimitsSource } from '../../src/domain/limits/limits-source.js';
import { createLimitsChangeFeed } from '../../src/domain/outbox/change-feed.js';
import { createWebhookEndpoints } from '../../src/domain/outbox/endpoints.js';
import type { BillingStore } from '../../src/domain/store.js';
import { createActivityRollup } from '../../src/domain/usage/activity.js';
import { createEntitlementsService } from '../../src/domain/usage/entitlements.js';
import { createUsageService } from '../../src/domain/usage/usage.js';
import { webhookUrlProblem } from '../../src/http/webhook-address.js';
import { ADMIN_SECRET, unique, useHarness, WORKER_SECRET } from '../support/harness.js';

const h = useHarness({ store: 'pglite' });

/** The services a procedure reaches through its context, as the composition root wires them. */
function servicesOver(store: BillingStore, checks: [string, number][]): BillingServices {
  const bearer = (secret: string, audience: string, requiredVersion?: string) => {
    const verify = createTokenVerifier({ secret, audience, ...(requiredVersion ? { requiredVersion } : {}) });
    return (authorization: string | undefined) => verify(bearerTokenFrom(authorization));
  };
  const limits = createLimitsSource({ mode: 'database', store: store.tenants });
  return {
    authenticateWorker: bearer(WORKER_SECRET, WORKER_AUDIENCE, WORKER_TOKEN_VERSION),
    authenticateAdmin: bearer(ADMIN_SECRET, ADMIN_AUDIENCE),
    limits,
    recordLimitCheck: (plan, status) => checks.push([plan, status]),
    administration: createAdministration(store.tenants, limits.apply),
    webhookEvents: store.webhooks,
    usage: createUsageService(store.usage, { catalog: store.tenants }),
    // A clock that stands still: `as_of` is the same both ways.
    entitlements: createEntitlementsService(store.usage, { now: () => Date.parse('2026-12-02T12:00:00Z') }),
    // The same still clock: `from` and `to` are the same both ways.
    activity: createActivityRollup({ store: store.activity, now: () => Date.parse('2026-12-02T12:00:00Z') }),
    limitsChanges: createLimitsChangeFeed({ store: store.outbox, signal: store.closing }),
    webhookEndpoints: createWebhookEndpoints({
      store: store.outbox,
      // No DNS here: the cases' URLs are IP literals, checked as they are.
      urlProblem: (url) => webhookUrlProblem(url, { allowPrivate: false }),
      wake: () => {},
    }),
  };
}

type Credentials = 'worker' | 'admin' | 'none';

/** What a test made for one procedure: a tenant of its own, its customer, one of its reservations. */
interface Fixture {
  tenant: string;
  customer: string;
  reservationId: string;
  /** One on a lease, to renew. */
  leasedReservationId: string;
  /** An outbound webhook endpoint, and one delivery of the tenant's event to it. */
  endpointId: string;
  deliveryId: string;
  /** Another endpoint, made for each call (deleting one is not idempotent). */
  freshEndpointId(): Promise<string>;
}

interface ProcedureCases {
  /** The token the procedure wants. */
  credentials: Exclude<Credentials, 'none'>;
  /**
   * A call that succeeds (run twice: mutations are chosen so that the second call answers the same).
   * A function: a fresh input for each of the two calls.
   */
  success(fixture: Fixture): unknown;
  /** Inputs the input schema refuses. */
  badInputs(fixture: Fixture): unknown[];
  /** Valid inputs the domain refuses (unknown tenant, limit exceeded, …). */
  refusals?(fixture: Fixture): unknown[];
  /** Output fields that differ from one call to the next by design (a time from the database's clock). */
  volatile?: readonly string[];
}

/** Every procedure of the router; a procedure missing here fails the test named after it. */
const CASES: Record<string, ProcedureCases> = {
  'billing.limits': {
    credentials: 'worker',
    success: ({ tenant }) => ({ tenantId: tenant, planType: 'growth' }),
    badInputs: ({ tenant }) => [
      { tenantId: '', planType: 'pro' },
      undefined,
      { tenantId: tenant, planType: 'Free' },
    ],
    refusals: () => [{ tenantId: unique('nobody') }],
  },
  'billing.limitsChanges': {
    credentials: 'worker',
    success: ({ tenant }) => ({ tenantId: tenant }),
    badInputs: () => [{ tenantId: '' }, { lastEventId: 'abc' }, { lastEventId: '-1' }, { lastEventId: 7 }],
  },
  'billing.usage': {
    credentials: 'worker',
    success: ({ tenant }) => ({ tenantId: tenant }),
    badInputs: () => [{ tenantId: '' }, {}],
    refusals: () => [{ tenantId: unique('nobody') }],
  },
  'billing.reconcileUsage': {
    credentials: 'worker',
    success: ({ tenant }) => ({ tenantId: tenant, self_hosted_workers: 2 }),
    badInputs: ({ tenant }) => [
      { tenantId: tenant, deployments: -1 },
      { tenantId: tenant, extra: 1 },
      { tenantId: tenant, self_hosted_workers: 1_000_000_001 },
    ],
    refusals: () => [{ tenantId: unique('nobody'), deployments: 1 }],
  },
  'billing.reserve': {
    credentials: 'worker',
    // The same key twice: the second call is answered the first call's reservation.
    success: ({ tenant }) => ({ tenantId: tenant, resource: 'deployments', idempotency_key: 'procedures' }),
    badInputs: ({ tenant }) => [
      { tenantId: tenant, resource: 'gpus', idempotency_key: 'k' },
      { tenantId: tenant, resource: 'deployments' },
      { tenantId: tenant, resource: 'deployments', quantity: 0, idempotency_key: 'k' },
    ],
    refusals: ({ tenant }) => [
      // The free plan's one deployment is taken by the successful call.
      { tenantId: tenant, resource: 'deployments', idempotency_key: 'one-too-many' },
      { tenantId: tenant, resource: 'deployments', quantity: 2, idempotency_key: 'procedures' },
      { tenantId: unique('nobody'), resource: 'deployments', idempotency_key: 'k' },
    ],
  },
  'billing.release': {
    credentials: 'worker',
    // Releasing twice is fine: both calls answer nothing.
    success: ({ tenant, reservationId }) => ({ tenantId: tenant, reservationId }),
    badInputs: ({ tenant }) => [
      { tenantId: tenant, reservationId: 'not-a-uuid' },
      { reservationId: randomUUID() },
    ],
    refusals: ({ tenant }) => [{ tenantId: tenant, reservationId: randomUUID() }],
  },
  'billing.renew': {
    credentials: 'worker',
    // Renewing twice is fine: each call moves `expires_at` (volatile) and answers the rest alike.
    success: ({ tenant, leasedReservationId }) => ({
      tenantId: tenant,
      reservationId: leasedReservationId,
      lease_seconds: 60,
    }),
    volatile: ['expires_at'],
    badInputs: ({ tenant, leasedReservationId }) => [
      { tenantId: tenant, reservationId: leasedReservationId, lease_seconds: 9 },
      { tenantId: tenant, reservationId: leasedReservationId, lease_seconds: 86_401 },
      { tenantId: tenant, reservationId: 'not-a-uuid' },
      { tenantId: tenant, reservationId: leasedReservationId, extra: 1 },
    ],
    refusals: ({ tenant, reservationId }) => [
      { tenantId: tenant, reservationId },
      { tenantId: tenant, reservationId: randomUUID() },
    ],
  },
  'billing.listReservations': {
    credentials: 'worker',
    success: ({ tenant }) => ({ tenantId: tenant, state: 'active', limit: 10 }),
    badInputs: ({ tenant }) => [
      { tenantId: tenant, state: 'held' },
      { tenantId: tenant, limit: 0 },
      { tenantId: tenant, cursor: 'not-a-cursor' },
    ],
    refusals: () => [{ tenantId: unique('nobody') }],
  },
  'billing.check': {
    credentials: 'worker',
    success: ({ tenant }) => ({ tenantId: tenant, checks: [{ resource: 'deployments', quantity: 2 }] }),
    badInputs: ({ tenant }) => [
      { tenantId: tenant, checks: [] },
      { tenantId: tenant, checks: [{ resource: 'deployments', quantity: 0 }] },
      { tenantId: tenant, checks: [{ resource: 'gpus' }] },
    ],
    refusals: () => [{ tenantId: unique('nobody'), checks: [{ resource: 'deployments' }] }],
  },
  'billing.entitlements': {
    credentials: 'worker',
    success: ({ tenant }) => ({ tenantId: tenant }),
    badInputs: () => [{ tenantId: '' }, {}],
    refusals: () => [{ tenantId: unique('nobody') }],
  },
  'admin.listPlans': {
    credentials: 'admin',
    success: () => undefined,
    badInputs: () => ['plans', 42],
  },
  'admin.setPlan': {
    credentials: 'admin',
    // The catalog's own values: the call changes nothing another test could see.
    success: () => ({ planId: 'growth', deployments: 5, self_hosted_workers: null }),
    badInputs: () => [
      { planId: 'pro', deployments: 1, self_hosted_workers: 1 },
      { planId: 'free', deployments: -1, self_hosted_workers: 1 },
      { planId: 'free', deployments: 1 },
      // Past what the store holds: never written, whatever the catalog held before.
      { planId: 'free', deployments: 2_147_483_648, self_hosted_workers: 1 },
      {
        planId: 'free',
        deployments: 1,
        self_hosted_workers: 1,
        soft_limits: { deployments: { overage_cap: 2_147_483_648 } },
      },
    ],
  },
  'admin.getTenant': {
    credentials: 'admin',
    success: ({ tenant }) => ({ tenantId: tenant }),
    badInputs: () => [{ tenantId: 'x'.repeat(256) }, {}],
    refusals: () => [{ tenantId: unique('nobody') }],
  },
  'admin.listTenants': {
    credentials: 'admin',
    success: ({ customer }) => ({ customer_id: customer, limit: 10 }),
    badInputs: () => [{ limit: 0 }, { limit: 501 }, { query: '' }, { cursor: 'not-a-cursor' }],
  },
  'admin.getTenantUsage': {
    credentials: 'admin',
    success: ({ tenant }) => ({ tenantId: tenant }),
    badInputs: () => [{ tenantId: 'x'.repeat(256) }, {}],
    refusals: () => [{ tenantId: unique('nobody') }],
  },
  'admin.listNearLimits': {
    credentials: 'admin',
    success: () => ({ min_percent: 50, limit: 5 }),
    badInputs: () => [{ min_percent: 0 }, { min_percent: 1001 }, { limit: 101 }],
  },
  'admin.listAudit': {
    credentials: 'admin',
    success: ({ tenant }) => ({ subject_id: tenant, limit: 10 }),
    badInputs: () => [{ limit: 0 }, { subject_id: '' }, { cursor: 'not-a-cursor' }],
  },
  'admin.putTenant': {
    credentials: 'admin',
    success: ({ tenant }) => ({ tenantId: tenant, plan_id: 'free', overrides: { self_hosted_workers: 7 } }),
    badInputs: ({ tenant }) => [
      { tenantId: tenant, plan_id: 'gold' },
      { tenantId: tenant, overrides: { deployments: -2 } },
      { tenantId: tenant, extra: 1 },
      { tenantId: tenant, overrides: { deployments: 1_000_000_001 } },
      { tenantId: tenant, soft_limits: { deployments: { overage_cap: 1_000_000_001 } } },
    ],
    // A new customer needs a plan.
    refusals: () => [{ tenantId: unique('nobody') }],
  },
  'admin.clearOverrides': {
    credentials: 'admin',
    success: ({ tenant }) => ({ tenantId: tenant }),
    badInputs: () => [{ tenantId: '' }],
    refusals: () => [{ tenantId: unique('nobody') }],
  },
  'admin.listWebhookEvents': {
    credentials: 'admin',
    success: ({ customer }) => ({ customer_id: customer, limit: 10 }),
    badInputs: () => [{ limit: 0 }, { limit: 501 }, { customer_id: '' }, { cursor: 'not-a-cursor' }],
  },
  'admin.getActivity': {
    credentials: 'admin',
    success: ({ tenant }) => ({ tenant_id: tenant, hours: 24 }),
    badInputs: () => [{ hours: 0 }, { hours: 721 }, { hours: 1.5 }, { hours: 'week' }, { tenant_id: '' }],
  },
  'admin.listRefusals': {
    credentials: 'admin',
    success: () => ({ hours: 2, limit: 5 }),
    badInputs: () => [{ hours: 0 }, { hours: 721 }, { limit: 0 }, { limit: 101 }, { limit: 'all' }],
  },
  'admin.createWebhookEndpoint': {
    credentials: 'admin',
    success: () => ({ url: 'https://93.184.215.14/hook', description: 'procedures' }),
    badInputs: () => [
      {},
      { url: 1 },
      { url: 'https://93.184.215.14/hook', events: [] },
      { url: 'https://93.184.215.14/hook', events: ['limit.exploded'] },
      { url: 'https://93.184.215.14/hook', extra: 1 },
    ],
    refusals: () => [{ url: 'http://127.0.0.1/hook' }, { url: 'ftp://93.184.215.14/hook' }],
    volatile: ['endpoint_id', 'secret', 'created_at'],
  },
  'admin.listWebhookEndpoints': {
    credentials: 'admin',
    success: () => undefined,
    badInputs: () => ['endpoints', 42],
  },
  'admin.deleteWebhookEndpoint': {
    credentials: 'admin',
    success:
      ({ freshEndpointId }) =>
      async () => ({ endpointId: await freshEndpointId() }),
    badInputs: () => [{ endpointId: 'not-a-uuid' }, {}],
    refusals: () => [{ endpointId: randomUUID() }],
  },
  'admin.listWebhookDeliveries': {
    credentials: 'admin',
    success: ({ endpointId }) => ({ endpointId, limit: 10 }),
    badInputs: ({ endpointId }) => [
      { endpointId, limit: 0 },
      { endpointId, cursor: 'not-a-cursor' },
      { endpointId: 'x' },
    ],
    refusals: () => [{ endpointId: randomUUID() }],
  },
  'admin.redeliverWebhookDelivery': {
    credentials: 'admin',
    success: ({ endpointId, deliveryId }) => ({ endpointId, deliveryId }),
    badInputs: ({ endpointId }) => [{ endpointId, deliveryId: 'x' }, { endpointId }],
    refusals: ({ endpointId, deliveryId }) => [
      { endpointId, deliveryId: randomUUID() },
      { endpointId: randomUUID(), deliveryId },
    ],
  },
  'admin.replayWebhookEvent': {
    credentials: 'admin',
    // An ignored event: every replay answers it as recorded.
    success: () => ({ eventId: RECORDED_EVENT }),
    badInputs: () => [{ eventId: '' }, { eventId: 'evt\u0001' }, {}, { eventId: RECORDED_EVENT, extra: 1 }],
    refusals: () => [{ eventId: unique('evt-nobody') }],
  },
};

/** An Orb event recorded before the tests run, for the procedures that read one. */
const RECORDED_EVENT = unique('evt');

/** What a call came to: its output, or its error's code, message and cause, as a caller can tell them. */
async function outcome(call: () => Promise<unknown>) {
  try {
    return { ok: true, data: await firstOfStream(await call()) };
  } catch (error) {
    expect(error).toBeInstanceOf(TRPCError);
    const { code, message, cause } = error as TRPCError;
    return { ok: false, code, message, cause: causeOf(cause) };
  }
}

/** A subscription's answer (a stream) as its first message, the stream then ended; anything else as is. */
async function firstOfStream(data: unknown): Promise<unknown> {
  if (typeof data !== 'object' || data === null || !(Symbol.asyncIterator in data)) return data;
  const messages = (data as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  const first = await messages.next();
  await messages.return?.();
  return { first };
}

function causeOf(cause: unknown) {
  if (cause === undefined) return undefined;
  if (!(cause instanceof Error)) return { value: cause };
  return {
    name: cause.constructor.name,
    message: cause.message,
    ...(cause instanceof DomainError ? { code: cause.code, facts: cause.facts } : {}),
    ...(cause instanceof AuthenticationError ? { detail: cause.detail } : {}),
    ...('issues' in cause ? { issues: cause.issues } : {}),
  };
}

/** A successful outcome with its case's volatile output fields as "any string", for comparing. */
function withVolatile<T extends { ok: boolean; data?: unknown }>(
  result: T,
  cases: ProcedureCases | undefined,
): T {
  if (!result.ok || !cases?.volatile || typeof result.data !== 'object' || result.data === null)
    return result;
  const data: Record<string, unknown> = { ...(result.data as Record<string, unknown>) };
  for (const field of cases.volatile) {
    expect(data[field], field).toEqual(expect.any(String));
    data[field] = expect.any(String);
  }
  return { ...result, data };
}

/** tRPC's own caller for the procedure at `path` (e.g. `billing.limits`). */
function callerOf(ctx: BillingContext, path: string): (input: unknown) => Promise<unknown> {
  const procedure = path
    .split('.')
    .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], createCaller(ctx));
  return procedure as (input: unknown) => Promise<unknown>;
}

describe('every procedure, run by our runner and by tRPC’s own caller', () => {
  const entries = proceduresOf();
  const checks: [string, number][] = [];
  let services: BillingServices;
  const tokens: Record<Credentials, string | undefined> = { worker: '', admin: '', none: undefined };
  beforeAll(async () => {
    services = servicesOver(h.store, checks);
    await h.store.webhooks.recordOrbEvent(
      { id: RECORDED_EVENT, type: 'invoice.issued', createdAt: new Date(), customerId: null, rawBody: '{}' },
      { kind: 'record', outcome: 'ignored' },
    );
    tokens.worker = `Bearer ${await h.workerToken()}`;
    tokens.admin = `Bearer ${await h.adminToken()}`;
  });

  const contextAs = (credentials: Credentials): BillingContext => ({
    authorization: tokens[credentials],
    deadline: undefined,
    services,
  });

  /**
   * Runs `input` both ways with `credentials`; the two must agree, limit checks recorded included
   * (`volatile` output fields: both a string, of any value).
   */
  async function bothWays(entry: ProcedureEntry, credentials: Credentials, input: unknown) {
    const ctx = contextAs(credentials);
    const inputOf = async () =>
      typeof input === 'function' ? await (input as () => Promise<unknown>)() : input;
    checks.length = 0;
    const callerInput = await inputOf();
    const viaCaller = withVolatile(
      await outcome(() => callerOf(ctx, entry.path)(callerInput)),
      CASES[entry.path],
    );
    const callerChecks = checks.splice(0);
    const runnerInput = await inputOf();
    const viaRunner = await outcome(() => entry.run(ctx, runnerInput));
    expect(
      { outcome: viaRunner, checks: checks.splice(0) },
      `${entry.path} ${JSON.stringify(input)}`,
    ).toEqual({
      outcome: viaCaller,
      checks: callerChecks,
    });
    return viaRunner;
  }

  it('covers the router and only the router', () => {
    expect(entries.length).toBeGreaterThan(0);
    expect(Object.keys(CASES).sort()).toEqual(entries.map((entry) => entry.path).sort());
  });

  it.each(entries.map((entry) => [entry.path, entry] as const))('%s', async (path, entry) => {
    const cases = CASES[path];
    if (!cases) throw new Error(`no cases for ${path}: add it to CASES`);
    const customer = unique('cus');
    const tenant = await h.tenant('free', { customer_id: customer, overrides: { deployments: 1 } });
    const reservation = await services.usage?.reserve(tenant, {
      resource: 'self_hosted_workers',
      quantity: 1,
      idempotency_key: 'fixture',
    });
    const leased = await services.usage?.reserve(tenant, {
      resource: 'self_hosted_workers',
      quantity: 1,
      idempotency_key: 'fixture-leased',
      lease_seconds: 600,
    });
    const newEndpoint = async () =>
      (
        await h.store.outbox.createEndpoint(
          { url: 'https://93.184.215.14/hook', events: null, description: '', secret: 'whsec_AAAA' },
          'test',
        )
      ).id;
    const endpointId = await newEndpoint();
    // Another tenant's creation: its event is the endpoint's delivery (the fixture tenant stays as it is).
    await h.tenant('free');
    const { deliveries } = await h.store.outbox.listDeliveries(endpointId, { limit: 1 });
    const fixture: Fixture = {
      tenant,
      customer,
      reservationId: reservation?.reservation.reservation_id ?? '',
      leasedReservationId: leased?.reservation.reservation_id ?? '',
      endpointId,
      deliveryId: deliveries[0]?.id ?? '',
      freshEndpointId: newEndpoint,
    };
    const other: Credentials = cases.credentials === 'worker' ? 'admin' : 'worker';

    const succeeded = await bothWays(entry, cases.credentials, cases.success(fixture));
    expect(succeeded).toMatchObject({ ok: true });

    const badInputs = cases.badInputs(fixture);
    expect(badInputs.length).toBeGreaterThan(0);
    for (const input of badInputs) {
      expect(await bothWays(entry, cases.credentials, input)).toMatchObject({
        ok: false,
        code: 'BAD_REQUEST',
      });
    }
    for (const input of cases.refusals?.(fixture) ?? []) {
      expect(await bothWays(entry, cases.credentials, input)).toMatchObject({ ok: false });
    }
    // Authentication comes first: a bad input without the right token is a 401 too.
    for (const [credentials, input] of [
      ['none', cases.success(fixture)],
      [other, cases.success(fixture)],
      ['none', badInputs[0]],
    ] as const) {
      expect(await bothWays(entry, credentials, input)).toMatchObject({
        ok: false,
        code: 'UNAUTHORIZED',
        cause: { name: expect.stringMatching(/Error$/) },
      });
    }
  });
});

describe('the runner’s output memo', () => {
  const limits = proceduresOf().find((entry) => entry.path === 'billing.limits');
  if (!limits) throw new Error('no billing.limits procedure');

  const contextWith = async (source: LimitsSource): Promise<BillingContext> => ({
    authorization: `Bearer ${await h.workerToken()}`,
    deadline: undefined,
    services: { ...servicesOver(h.store, []), limits: source },
  });

  it('answers a frozen resolver result (a cached tenant’s answer) with one parsed output, the same object each time', async () => {
    const tenant = await h.tenant('growth');
    const ctx = await contextWith(createLimitsSource({ mode: 'database', store: h.store.tenants }));
    const first = await limits.run(ctx, { tenantId: tenant });
    const second = await limits.run(ctx, { tenantId: tenant });
    expect(second).toBe(first);
    expect(first).toEqual({
      tenant_id: tenant,
      limits: { deployments: 5, self_hosted_workers: null, plan_type: 'growth' },
    });
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen((first as { limits: object }).limits)).toBe(true);
  });

  it('parses a result that is not frozen anew each time', async () => {
    const ctx = await contextWith({
      mode: 'header',
      answer: async ({ tenantId }) => ({
        tenant_id: tenantId,
        limits: { deployments: 1, self_hosted_workers: 5, plan_type: 'free' },
      }),
      apply: () => {},
    });
    const first = await limits.run(ctx, { tenantId: 'org-1' });
    const second = await limits.run(ctx, { tenantId: 'org-1' });
    expect(second).toEqual(first);
    expect(second).not.toBe(first);
  });

  it.each([
    ['a fresh object', false],
    ['a frozen object', true],
  ])(
    'surfaces a failing output schema on %s as tRPC does (a 500, never an invalid body)',
    async (_, frozen) => {
      const broken = {
        tenant_id: 'org-1',
        limits: { deployments: -1, self_hosted_workers: null, plan_type: 'free' },
      };
      const ctx = await contextWith({
        mode: 'header',
        answer: async () => (frozen ? Object.freeze(broken) : broken) as never,
        apply: () => {},
      });
      const viaRunner = await outcome(() => limits.run(ctx, { tenantId: 'org-1' }));
      expect(viaRunner).toMatchObject({
        ok: false,
        code: 'INTERNAL_SERVER_ERROR',
        message: 'Output validation failed',
      });
      expect(viaRunner).toEqual(await outcome(() => createCaller(ctx).billing.limits({ tenantId: 'org-1' })));
      // Refused twice: a failed parse is never remembered.
      expect(await outcome(() => limits.run(ctx, { tenantId: 'org-1' }))).toEqual(viaRunner);
    },
  );
});

describe('a procedure chain the runner does not understand', () => {
  const refusal = (path: string) =>
    `${path}: not a procedure chain this runner understands (tRPC internals changed?)`;

  it('is refused when the router is listed, not served differently from tRPC', () => {
    const traced = workerProcedure
      .use(async ({ next }) => next())
      .input(BillingLimitsInput)
      .output(BillingLimitsResponse)
      .query(({ input, ctx }) => ctx.services.limits.answer(input));
    const tracedRouter = router({ traced }) as unknown as AppRouter;
    expect(() => proceduresOf(tracedRouter)).toThrow(refusal('traced'));
  });

  it.each([
    ['no input', () => workerProcedure.output(z.object({})).query(() => ({}))],
    ['no output', () => workerProcedure.input(z.object({})).query(() => ({}))],
    [
      'a middleware after the input',
      () =>
        workerProcedure
          .input(z.object({}))
          .use(async ({ next }) => next())
          .output(z.object({}))
          .query(() => ({})),
    ],
    [
      'a middleware after the output',
      () =>
        workerProcedure
          .input(z.object({}))
          .output(z.object({}))
          .use(async ({ next }) => next())
          .query(() => ({})),
    ],
    [
      'two inputs',
      () =>
        workerProcedure
          .input(z.object({ a: z.string() }))
          .input(z.object({ b: z.string() }))
          .output(z.object({}))
          .query(() => ({})),
    ],
  ])('is refused with %s', (_, procedure) => {
    expect(() => proceduresOf(router({ odd: procedure() }) as unknown as AppRouter)).toThrow(refusal('odd'));
  });
});

describe('a router the runner lists', () => {
  /** A context whose worker authentication accepts anyone: these procedures are the runner's test, not auth's. */
  const ctx = {
    authorization: undefined,
    deadline: undefined,
    services: { authenticateWorker: async () => ({ sub: 'w' }) },
  } as unknown as BillingContext;
  const entryOf = (listed: readonly ProcedureEntry[], path: string) => {
    const entry = listed.find((candidate) => candidate.path === path);
    if (!entry) throw new Error(`no ${path}`);
    return entry;
  };

  it('is listed once: the same entries, runners and all, every time', () => {
    const own = router({
      one: workerProcedure
        .input(z.object({}))
        .output(z.object({}))
        .query(() => ({})),
    });
    const listed = proceduresOf(own as unknown as AppRouter);
    expect(listed.map(({ path, type, inputFields }) => ({ path, type, inputFields }))).toEqual([
      { path: 'one', type: 'query', inputFields: [] },
    ]);
    expect(proceduresOf(own as unknown as AppRouter)).toBe(listed);
  });

  it('names the fields of an object input, through optional and nullable, and none of any other input', () => {
    const own = router({
      plain: workerProcedure
        .input(z.object({ a: z.string(), b: z.int() }))
        .output(z.object({}))
        .query(() => ({})),
      wrapped: workerProcedure
        .input(z.object({ c: z.string() }).nullable().optional())
        .output(z.object({}))
        .mutation(() => ({})),
      text: workerProcedure
        .input(z.string())
        .output(z.object({}))
        .query(() => ({})),
    });
    const listed = proceduresOf(own as unknown as AppRouter);
    expect(listed.map(({ path, type, inputFields }) => [path, type, inputFields])).toEqual([
      ['plain', 'query', ['a', 'b']],
      ['wrapped', 'mutation', ['c']],
      ['text', 'query', []],
    ]);
  });

  it('runs a procedure with no middleware of ours, and hands the resolver the raw input as tRPC does', async () => {
    const bare = initTRPC.context<BillingContext>().create();
    const own = bare.router({
      echo: bare.procedure
        .input(z.object({ n: z.coerce.number() }))
        .output(z.object({ parsed: z.number(), raw: z.unknown() }))
        .query(async (options) => ({
          parsed: options.input.n,
          // Untyped, but there: tRPC hands the resolver its middleware options, `getRawInput` among them.
          raw: await (options as unknown as { getRawInput(): Promise<unknown> }).getRawInput(),
        })),
    });
    const echo = entryOf(proceduresOf(own as unknown as AppRouter), 'echo');
    expect(await echo.run(ctx, { n: '7' })).toEqual({ parsed: 7, raw: { n: '7' } });
    expect(await bare.createCallerFactory(own)(ctx).echo({ n: '7' })).toEqual({ parsed: 7, raw: { n: '7' } });
  });

  it('awaits an input schema with an asynchronous check before the resolver sees the input', async () => {
    const own = router({
      checked: workerProcedure
        .input(z.object({ n: z.int() }).refine(async ({ n }) => n > 0, 'must be positive'))
        .output(z.object({ n: z.int() }))
        .query(({ input }) => ({ n: input.n })),
    });
    const checked = entryOf(proceduresOf(own as unknown as AppRouter), 'checked');
    expect(await checked.run(ctx, { n: 2 })).toEqual({ n: 2 });
    expect(await outcome(() => checked.run(ctx, { n: -2 }))).toMatchObject({
      ok: false,
      code: 'BAD_REQUEST',
    });
  });

  it('parses an answer that is not frozen anew even when it is the same object, changed since', async () => {
    const shared = { count: 1 };
    const own = router({
      counter: workerProcedure
        .input(z.object({}))
        .output(z.object({ count: z.int() }))
        .query(() => shared),
    });
    const counter = entryOf(proceduresOf(own as unknown as AppRouter), 'counter');
    const first = await counter.run(ctx, {});
    shared.count = 2;
    const second = await counter.run(ctx, {});
    expect([first, second]).toEqual([{ count: 1 }, { count: 2 }]);
    expect(Object.isFrozen(first)).toBe(false);
  });

  it('freezes a frozen answer’s parsed output all the way down, nulls and lists included', async () => {
    const answer = Object.freeze({ outer: { inner: [1, null], none: null } });
    const own = router({
      frozen: workerProcedure
        .input(z.object({}))
        .output(z.object({ outer: z.object({ inner: z.array(z.int().nullable()), none: z.null() }) }))
        .query(() => answer),
    });
    const frozen = entryOf(proceduresOf(own as unknown as AppRouter), 'frozen');
    const parsed = (await frozen.run(ctx, {})) as { outer: { inner: unknown[] } };
    expect(parsed).toEqual({ outer: { inner: [1, null], none: null } });
    expect(Object.isFrozen(parsed.outer)).toBe(true);
    expect(Object.isFrozen(parsed.outer.inner)).toBe(true);
    expect(await frozen.run(ctx, {})).toBe(parsed);
  });
});
