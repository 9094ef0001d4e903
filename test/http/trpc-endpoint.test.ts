import { type Context, Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { BillingContext } from '../../src/api/context.js';
import { AuthenticationError } from '../../src/auth/errors.js';
import { tenantNotFound } from '../../src/domain/errors.js';
import { createLimitsSource, type LimitsSource } from '../../src/domain/limits/limits-source.js';
import type { ObservedRoutes } from '../../src/http/request-observer.js';
import { mountTrpcEndpoint } from '../../src/http/trpc-endpoint.js';

const headerMode = createLimitsSource({ mode: 'header' });
const failing = (error: Error): LimitsSource => ({
  mode: 'database',
  answer: () => Promise.reject(error),
  apply: () => {},
});

function endpoint(limits: LimitsSource, shortPath: boolean) {
  const app = new Hono();
  const reported: unknown[] = [];
  const checks: [string, number][] = [];
  const createContext = (c: Context): BillingContext => ({
    authorization: c.req.header('authorization'),
    deadline: undefined,
    services: {
      async authenticateWorker(header) {
        if (!header) throw new AuthenticationError('Missing authorization header');
        return { sub: 'engine' };
      },
      limits,
      recordLimitCheck: (plan, status) => checks.push([plan, status]),
    },
  });
  // The endpoint's handlers as they are, without the request observer around them.
  const routes: ObservedRoutes = {
    on: (method, path, handler) => {
      if (typeof method === 'string') app.on(method, path, handler);
      else app.on(method, [path], handler);
    },
    notFound: (handler) => app.notFound(handler),
  };
  mountTrpcEndpoint(routes, { createContext, onServerError: (error) => reported.push(error) }, { shortPath });
  return { app, reported, checks };
}

const query = (input: unknown) =>
  `/trpc/billing.limits${input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`}`;

async function answer(app: Hono, path: string, authorized = true) {
  const res = await app.request(path, { headers: authorized ? { authorization: 'Bearer t' } : {} });
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    vary: res.headers.get('vary'),
    challenge: res.headers.get('www-authenticate'),
    body: await res.json(),
  };
}

describe('the short path for single GET queries on /trpc', () => {
  it.each([
    ['a valid query', headerMode, query({ tenantId: 'org-1', planType: 'growth' }), true],
    ['no credentials', headerMode, query({ tenantId: 'org-1' }), false],
    ['an invalid input', headerMode, query({ tenantId: '', planType: 'pro' }), true],
    ['no input at all', headerMode, query(undefined), true],
    ['malformed JSON input', headerMode, '/trpc/billing.limits?input=%7Bnope', true],
    ['an unknown tenant', failing(tenantNotFound()), query({ tenantId: 'org-1' }), true],
    ['an unexpected failure', failing(new Error('disk on fire')), query({ tenantId: 'org-1' }), true],
    ['an unknown procedure', headerMode, '/trpc/billing.nothing?input=%7B%7D', true],
    ['a mutation asked over GET', headerMode, '/trpc/admin.setPlan?input=%7B%7D', true],
    [
      'a batch',
      headerMode,
      `/trpc/billing.limits?batch=1&input=${encodeURIComponent('{"0":{"tenantId":"o"}}')}`,
      true,
    ],
  ] as const)('answers %s exactly as tRPC’s fetch adapter does', async (_, limits, path, authorized) => {
    const short = endpoint(limits, true);
    const reference = endpoint(limits, false);
    expect(await answer(short.app, path, authorized)).toEqual(await answer(reference.app, path, authorized));
    expect(short.reported.length).toBe(reference.reported.length);
    expect(short.checks).toEqual(reference.checks);
  });
});
