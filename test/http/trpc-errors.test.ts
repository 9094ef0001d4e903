/**
 * What a typed client sees when a call fails for a reason the domain knows: the tRPC code that
 * says it (`NOT_FOUND`, `CONFLICT`, …), the REST status as `httpStatus` and as the response's own
 * status, and the REST body's `detail` — never `INTERNAL_SERVER_ERROR` for "tenant not found".
 * Through `createBillingClient`, over the app's fetch (queries take the short path, mutations
 * tRPC's fetch adapter) and over a real socket.
 */
import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BillingClient,
  createBillingClient,
  isBillingClientError,
} from '../../packages/client/src/index.js';
import { failureStatusOf, trpcFailureOf } from '../../src/api/errors.js';
import { DomainError, type DomainErrorCode } from '../../src/domain/errors.js';
import type { BillingStore } from '../../src/domain/store.js';
import { type DrainableServer, listen } from '../../src/http/node-server.js';
import { type Harness, STORE_KINDS, trpcPath, unique, useHarness } from '../support/harness.js';

/** A typed client whose requests go to `app.fetch` in process. */
function clientOf(app: Harness, token: () => Promise<string>): BillingClient {
  return createBillingClient({
    url: 'http://billing.test',
    token,
    fetch: (input, init) =>
      Promise.resolve(app.app.request(input instanceof Request ? input : String(input), init)),
  });
}

interface Failure {
  message: string;
  code: string | undefined;
  httpStatus: number | undefined;
  detail: unknown;
  jsonRpcCode: number | undefined;
}

/** How the call failed, as the typed client reports it. */
async function failureOf(call: Promise<unknown>): Promise<Failure> {
  try {
    await call;
  } catch (error) {
    if (!isBillingClientError(error)) throw error;
    const { data, shape } = error;
    return {
      message: error.message,
      code: data?.code,
      httpStatus: data?.httpStatus,
      detail: data?.detail,
      jsonRpcCode: shape?.code,
    };
  }
  throw new Error('the call succeeded');
}

describe('the tRPC code of every domain failure', () => {
  /** Every domain error code; a new one fails to compile here until it is listed. */
  const CODES = {
    tenant_not_found: true,
    store_unavailable: true,
    deadline_exceeded: true,
    plan_required: true,
    limit_exceeded: true,
    idempotency_key_reused: true,
    orb_plan_already_mapped: true,
    webhook_event_not_found: true,
    reservation_not_found: true,
    not_leased: true,
    reservation_expired: true,
    reservation_released: true,
    webhook_endpoint_not_found: true,
    webhook_delivery_not_found: true,
    webhook_endpoint_disabled: true,
    webhook_url_refused: true,
  } satisfies Record<DomainErrorCode, true>;

  it.each(Object.keys(CODES) as DomainErrorCode[])(
    '%s: a tRPC code that means its REST status (a missed deadline: TIMEOUT, still 503)',
    (code) => {
      const error = new DomainError(code, 'what happened');
      const rest = failureStatusOf(error);
      const reported = trpcFailureOf(new TRPCError({ code: 'INTERNAL_SERVER_ERROR', cause: error }));
      expect(reported?.httpStatus).toBe(rest);
      if (code === 'deadline_exceeded') expect(reported?.code).toBe('TIMEOUT');
      else if (reported)
        expect(getHTTPStatusCodeFromError(new TRPCError({ code: reported.code }))).toBe(rest);
    },
  );

  it('leaves every other error to tRPC', () => {
    expect(trpcFailureOf(new TRPCError({ code: 'BAD_REQUEST' }))).toBeUndefined();
    expect(trpcFailureOf(new Error('disk on fire'))).toBeUndefined();
  });

  it('tells a failed call apart from any other error for the client’s callers', () => {
    expect(isBillingClientError(new Error('fetch failed'))).toBe(false);
    expect(isBillingClientError(new TRPCError({ code: 'NOT_FOUND' }))).toBe(false);
  });
});

describe.each(STORE_KINDS)('domain failures through the typed client on %s', (kind) => {
  const h = useHarness({ store: kind });
  const worker = () => clientOf(h, () => h.workerToken());
  const admin = () => clientOf(h, () => h.adminToken());

  it('an unknown tenant is NOT_FOUND (404), detail "Tenant not found"', async () => {
    const tenantId = unique('nobody');
    expect(await failureOf(worker().billing.limits.query({ tenantId }))).toEqual({
      message: 'Tenant not found',
      code: 'NOT_FOUND',
      httpStatus: 404,
      detail: 'Tenant not found',
      jsonRpcCode: -32004,
    });
    expect(await failureOf(worker().billing.usage.query({ tenantId }))).toMatchObject({
      code: 'NOT_FOUND',
      httpStatus: 404,
      detail: 'Tenant not found',
    });
    // A mutation (tRPC's fetch adapter, not the short path) says the same.
    expect(
      await failureOf(
        worker().billing.reserve.mutate({
          tenantId,
          resource: 'deployments',
          idempotency_key: unique('key'),
        }),
      ),
    ).toMatchObject({ code: 'NOT_FOUND', httpStatus: 404, detail: 'Tenant not found' });
  });

  it('the wire: the response status is the REST one, the envelope names the code', async () => {
    const tenantId = unique('nobody');
    const res = await h.asWorker(trpcPath('billing.limits', { tenantId }));
    expect(res.status).toBe(404);
    expect(await res.text()).toBe(
      JSON.stringify({
        error: {
          message: 'Tenant not found',
          code: -32004,
          data: { code: 'NOT_FOUND', httpStatus: 404, path: 'billing.limits', detail: 'Tenant not found' },
        },
      }),
    );
  });

  it('a limit exceeded is CONFLICT (409), detail the REST body’s facts', async () => {
    const tenantId = await h.tenant('free'); // one deployment
    const reserve = () =>
      worker().billing.reserve.mutate({ tenantId, resource: 'deployments', idempotency_key: unique('key') });
    await reserve();
    expect(await failureOf(reserve())).toEqual({
      message: 'The deployments limit would be exceeded',
      code: 'CONFLICT',
      httpStatus: 409,
      detail: { code: 'limit_exceeded', resource: 'deployments', limit: 1, used: 1, requested: 1 },
      jsonRpcCode: -32009,
    });
  });

  it('an idempotency key reused for another request is UNPROCESSABLE_CONTENT (422)', async () => {
    const tenantId = await h.tenant('growth');
    const key = unique('key');
    await worker().billing.reserve.mutate({ tenantId, resource: 'deployments', idempotency_key: key });
    const failure = await failureOf(
      worker().billing.reserve.mutate({
        tenantId,
        resource: 'deployments',
        quantity: 2,
        idempotency_key: key,
      }),
    );
    expect(failure).toMatchObject({ code: 'UNPROCESSABLE_CONTENT', httpStatus: 422, jsonRpcCode: -32022 });
    expect(failure.detail).toEqual([
      expect.objectContaining({
        type: 'idempotency_key_reused',
        loc: ['input', 'idempotency_key'],
        input: key,
      }),
    ]);
  });

  it('an unknown reservation is NOT_FOUND (404), detail "Reservation not found"', async () => {
    const tenantId = await h.tenant('growth');
    expect(
      await failureOf(worker().billing.release.mutate({ tenantId, reservationId: randomUUID() })),
    ).toMatchObject({
      message: 'Reservation not found',
      code: 'NOT_FOUND',
      httpStatus: 404,
      detail: 'Reservation not found',
    });
  });

  it('a new customer without a plan is UNPROCESSABLE_CONTENT (422), as on REST', async () => {
    const failure = await failureOf(admin().admin.putTenant.mutate({ tenantId: unique('org') }));
    expect(failure).toMatchObject({ code: 'UNPROCESSABLE_CONTENT', httpStatus: 422 });
    expect(failure.detail).toEqual([
      { type: 'missing', loc: ['input', 'plan_id'], msg: 'Field required', input: null },
    ]);
  });
});

describe('an unreachable store and the request deadline, through the typed client', () => {
  const h = useHarness({ store: 'pglite' });

  /** The store, with tenant reads and writes replaced. */
  const storeWith = (tenants: Partial<BillingStore['tenants']>): BillingStore => ({
    ...h.store,
    tenants: { ...h.store.tenants, ...tenants },
  });

  it('an unreachable store is SERVICE_UNAVAILABLE (503), detail "Limits store unavailable"', async () => {
    const down = storeWith({ findTenant: () => Promise.reject(new Error('connection refused')) });
    const app = h.withApp({ dependencies: { store: down } });
    const failure = await failureOf(
      clientOf(app, () => app.workerToken()).billing.limits.query({ tenantId: unique('org') }),
    );
    expect(failure).toEqual({
      message: 'Limits store unavailable',
      code: 'SERVICE_UNAVAILABLE',
      httpStatus: 503,
      detail: 'Limits store unavailable',
      jsonRpcCode: -32603,
    });
  });

  /** A store whose tenant reads and writes never answer until the test ends. */
  function stuckStore() {
    const waiting: (() => void)[] = [];
    const never = <T>() => new Promise<T>((resolve) => waiting.push(() => resolve(undefined as T)));
    const store = storeWith({ findTenant: () => never(), putTenant: () => never() });
    const release = () => {
      for (const resume of waiting) resume();
    };
    return { store, release };
  }

  it('a query past the request deadline is TIMEOUT (503), detail "Request timed out"', async () => {
    const { store, release } = stuckStore();
    const app = h.withApp({
      dependencies: { store },
      config: { requestTimeoutMs: 100, storeTimeoutMs: 60_000 },
    });
    try {
      const failure = await failureOf(
        clientOf(app, () => app.workerToken()).billing.limits.query({ tenantId: unique('org') }),
      );
      expect(failure).toEqual({
        message: 'Request timed out',
        code: 'TIMEOUT',
        httpStatus: 503,
        detail: 'Request timed out',
        jsonRpcCode: -32008,
      });
      // REST keeps its FastAPI body.
      const rest = await app.asWorker('/billing/limits', { headers: { 'tenant-id': unique('org') } });
      expect({ status: rest.status, body: await rest.text() }).toEqual({
        status: 503,
        body: '{"detail":"Request timed out"}',
      });
    } finally {
      release();
    }
  });

  it('a mutation past the request deadline is TIMEOUT too, and so is each call of a batch', async () => {
    const { store, release } = stuckStore();
    const app = h.withApp({
      dependencies: { store },
      config: { requestTimeoutMs: 100, storeTimeoutMs: 60_000 },
    });
    try {
      const failure = await failureOf(
        clientOf(app, () => app.adminToken()).admin.putTenant.mutate({
          tenantId: unique('org'),
          plan_id: 'free',
        }),
      );
      expect(failure).toMatchObject({ code: 'TIMEOUT', httpStatus: 503, detail: 'Request timed out' });

      const input = encodeURIComponent(
        JSON.stringify({ 0: { tenantId: 'org-1' }, 1: { tenantId: 'org-2' } }),
      );
      const batch = await app.asWorker(`/trpc/billing.limits,billing.usage?batch=1&input=${input}`);
      expect(batch.status).toBe(503);
      const timedOut = (path: string) => ({
        error: {
          message: 'Request timed out',
          code: -32008,
          data: { code: 'TIMEOUT', httpStatus: 503, path, detail: 'Request timed out' },
        },
      });
      expect(await batch.json()).toEqual([timedOut('billing.limits'), timedOut('billing.usage')]);
    } finally {
      release();
    }
  });
});

describe('over a real socket', () => {
  const h = useHarness({ store: 'pglite' });
  let server: DrainableServer;
  beforeAll(async () => {
    server = await listen(h.app.fetch, { port: 0, hostname: '127.0.0.1' });
  });
  afterAll(async () => {
    await server?.close(1_000);
  });

  it('a typed client sees NOT_FOUND for an unknown tenant and CONFLICT past a limit', async () => {
    const billing = createBillingClient({ url: server.origin, token: () => h.workerToken() });
    expect(await failureOf(billing.billing.limits.query({ tenantId: unique('nobody') }))).toMatchObject({
      code: 'NOT_FOUND',
      httpStatus: 404,
      detail: 'Tenant not found',
    });
    const tenantId = await h.tenant('free');
    const reserve = () =>
      billing.billing.reserve.mutate({ tenantId, resource: 'deployments', idempotency_key: unique('key') });
    await reserve();
    expect(await failureOf(reserve())).toMatchObject({ code: 'CONFLICT', httpStatus: 409 });
  });
});
