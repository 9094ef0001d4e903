import { describe, expect, it } from 'vitest';
import {
  ADMIN_AUTH_CASES,
  type AuthCase,
  type ProtectedEndpoint,
  restEndpoints,
  trpcEndpoints,
  WORKER_AUTH_CASES,
} from '../support/auth-cases.js';
import { useHarness } from '../support/harness.js';

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
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(await res.json()).toMatchObject({
      error: { data: { code: 'UNAUTHORIZED', httpStatus: 401, detail } },
    });
  });
});
