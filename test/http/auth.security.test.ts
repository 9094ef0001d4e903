import { TRPCError } from '@trpc/server';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { BillingServices } from '../../src/api/context.js';
import { createCaller } from '../../src/api/router.js';
import { auditLog } from '../../src/db/schema.js';
import { createAdministration } from '../../src/domain/limits/administration.js';
import { createLimitsSource } from '../../src/domain/limits/limits-source.js';
import {
  ADMIN_AUTH_CASES,
  type AuthCase,
  type ProtectedEndpoint,
  restEndpoints,
  streamedTrpcError,
  trpcEndpoints,
  WORKER_AUTH_CASES,
} from '../support/auth-cases.js';
import { ADMIN_SECRET, sign, useHarness } from '../support/harness.js';

// Admin routes answer 404 without a store (the admin API is off): the store makes them reachable.
const h = useHarness({ store: 'pglite' });

const rest = restEndpoints();
const trpc = trpcEndpoints();
const surfaces = [
  { surface: 'REST', endpoints: rest },
  { surface: 'tRPC', endpoints: trpc },
];

/** `cases` × `endpoints`, as one flat table: a test per endpoint and case. */
function table(endpoints: ProtectedEndpoint[], cases: AuthCase[]) {
  return endpoints.flatMap((endpoint) => cases.map((authCase) => ({ ...authCase, endpoint })));
}

async function call(endpoint: ProtectedEndpoint, authorization: string | undefined) {
  const { path, init } = endpoint.request(authorization);
  return h.request(path, init);
}

describe('the protected surface, derived from the router', () => {
  it('has worker and admin routes on REST and on tRPC', () => {
    for (const endpoints of [rest, trpc]) {
      expect(endpoints.filter((endpoint) => !endpoint.admin).length).toBeGreaterThan(0);
      expect(endpoints.filter((endpoint) => endpoint.admin).length).toBeGreaterThan(0);
    }
  });

  it('serves every REST route’s procedure on tRPC too', () => {
    const onTrpc = new Set(trpc.map((endpoint) => endpoint.procedure));
    for (const endpoint of rest) expect(onTrpc, endpoint.name).toContain(endpoint.procedure);
  });

  it.each(surfaces)(
    'lets the right token through on every $surface endpoint (not a 401)',
    async ({ endpoints }) => {
      for (const endpoint of endpoints) {
        const token = endpoint.admin ? await h.adminToken() : await h.workerToken();
        const res = await call(endpoint, `Bearer ${token}`);
        expect(res.status, endpoint.name).not.toBe(401);
      }
    },
  );
});

describe.each([
  { kind: 'worker', cases: WORKER_AUTH_CASES, admin: false },
  { kind: 'admin', cases: ADMIN_AUTH_CASES, admin: true },
])('every $kind route refuses every bad credential with the original words', ({ cases, admin }) => {
  it.each(
    table(
      rest.filter((endpoint) => endpoint.admin === admin),
      cases,
    ),
  )('$endpoint.name: $name → 401 "$detail"', async ({ endpoint, authorization, detail }) => {
    const res = await call(endpoint, await authorization());
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(await res.text()).toBe(JSON.stringify({ detail }));
  });

  it.each(
    table(
      trpc.filter((endpoint) => endpoint.admin === admin),
      cases,
    ),
  )('$endpoint.name: $name → 401 with data.detail "$detail"', async ({ endpoint, authorization, detail }) => {
    const res = await call(endpoint, await authorization());
    expect(await trpcRefusalOf(endpoint, res)).toMatchObject({
      error: { data: { code: 'UNAUTHORIZED', httpStatus: 401, detail } },
    });
  });
});

/**
 * A tRPC refusal's envelope: a 401 with the challenge — or, for a subscription, tRPC's way: the
 * stream opens (200) and its `serialized-error` event carries the same envelope.
 */
async function trpcRefusalOf(endpoint: ProtectedEndpoint, res: Response): Promise<unknown> {
  if (endpoint.subscription) {
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    return streamedTrpcError(res);
  }
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toBe('Bearer');
  return res.json();
}

describe('admin tokens must name who is acting (the audit log records `sub`)', () => {
  const now = () => Math.floor(Date.now() / 1000);
  /** An admin token signed with the admin secret, `sub` as given (left out when `undefined`). */
  const withSubject = (claims: Record<string, unknown>) => async () =>
    `Bearer ${await sign({ aud: 'billing-admin', iat: now(), exp: now() + 3600, ...claims }, { secret: ADMIN_SECRET })}`;
  const MISSING_SUB = 'Invalid token. Error: Token is missing the "sub" claim';
  const cases: AuthCase[] = [
    { name: 'no sub', authorization: withSubject({}), detail: MISSING_SUB },
    { name: 'sub null', authorization: withSubject({ sub: null }), detail: MISSING_SUB },
    { name: 'an empty sub', authorization: withSubject({ sub: '' }), detail: MISSING_SUB },
    { name: 'a sub of spaces', authorization: withSubject({ sub: '   ' }), detail: MISSING_SUB },
    { name: 'a sub of tabs and newlines', authorization: withSubject({ sub: '\t\n' }), detail: MISSING_SUB },
    {
      // Checked after the audience: a worker token signed with the admin secret is told its audience is wrong.
      name: 'no sub, the worker audience',
      authorization: withSubject({ aud: 'worker', ver: '1' }),
      detail: "Invalid token. Error: Audience doesn't match",
    },
    {
      name: 'a sub that is not a string',
      authorization: withSubject({ sub: 7 }),
      detail: 'Invalid token. Error: Subject must be a string',
    },
  ];

  it.each(
    table(
      rest.filter((endpoint) => endpoint.admin),
      cases,
    ),
  )('$endpoint.name: $name → 401 "$detail"', async ({ endpoint, authorization, detail }) => {
    const res = await call(endpoint, await authorization());
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(await res.text()).toBe(JSON.stringify({ detail }));
  });

  it.each(
    table(
      trpc.filter((endpoint) => endpoint.admin),
      cases,
    ),
  )('$endpoint.name: $name → 401 with data.detail "$detail"', async ({ endpoint, authorization, detail }) => {
    const res = await call(endpoint, await authorization());
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({
      error: { data: { code: 'UNAUTHORIZED', httpStatus: 401, detail } },
    });
  });

  it('writes nothing for a token without a subject, and audits the subject of one that has it', async () => {
    const tenant = `org-${Date.now().toString(36)}-sub`;
    const put = (authorization: string) =>
      h.request(`/admin/tenants/${tenant}`, {
        method: 'PUT',
        headers: { authorization },
        body: JSON.stringify({ plan_id: 'free' }),
      });
    expect((await put(await withSubject({ sub: '  ' })())).status).toBe(401);
    expect(await h.store.tenants.findTenant(tenant)).toBeUndefined();
    expect((await put(await withSubject({ sub: 'dana' })())).status).toBe(200);
    const entries = await h.db
      .select({ actor: auditLog.actor })
      .from(auditLog)
      .where(eq(auditLog.subjectId, tenant));
    expect(entries).toEqual([{ actor: 'dana' }]);
  });
});

describe('the admin middleware, whatever authenticator it is given', () => {
  const h = useHarness({ store: 'pglite' });

  it('refuses claims without a subject rather than auditing a stand-in', async () => {
    const services: BillingServices = {
      authenticateWorker: () => Promise.reject(new Error('not a worker call')),
      // An embedding's authenticator that checks the token but not its subject.
      authenticateAdmin: async () => ({ aud: 'billing-admin', sub: ' ' }),
      limits: createLimitsSource({ mode: 'header' }),
      recordLimitCheck: () => {},
      administration: createAdministration(h.store.tenants, () => {}),
      webhookEvents: h.store.webhooks,
    };
    const caller = createCaller({ authorization: 'Bearer t', deadline: undefined, services });
    const tenantId = `org-${Date.now().toString(36)}-stand-in`;
    const refused = await caller.admin
      .putTenant({ tenantId, plan_id: 'free' })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(TRPCError);
    expect(refused).toMatchObject({
      code: 'UNAUTHORIZED',
      cause: { detail: 'Invalid token. Error: Token is missing the "sub" claim' },
    });
    expect(await h.store.tenants.findTenant(tenantId)).toBeUndefined();
  });
});
