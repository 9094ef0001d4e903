import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBillingApp } from '../../src/app.js';
import {
  engineToken,
  engineTokenWithout,
  SECRET,
  sign,
  WORKER_AUTH_CASES,
} from '../support/worker-token-cases.js';

const app = createBillingApp({ secret: SECRET });
const trpcPath = (input: unknown) =>
  `/trpc/billing.limits?input=${encodeURIComponent(JSON.stringify(input))}`;

async function limits(
  authorization: string | undefined,
  headers: Record<string, string> = { 'tenant-id': 'org-123' },
) {
  return app.request('/billing/limits', {
    headers: { ...headers, ...(authorization === undefined ? {} : { authorization }) },
  });
}

describe('GET /billing/limits refuses every bad credential with the original words', () => {
  it.each(WORKER_AUTH_CASES)('$name → 401 "$detail"', async ({ authorization, detail }) => {
    const res = await limits(await authorization());
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(await res.text()).toBe(JSON.stringify({ detail }));
  });
});

describe('tRPC billing.limits refuses the same credentials the same way', () => {
  it.each(WORKER_AUTH_CASES)('$name → 401 with data.detail "$detail"', async ({ authorization, detail }) => {
    const header = await authorization();
    const res = await app.request(trpcPath({ tenantId: 'org-123' }), {
      headers: header === undefined ? {} : { authorization: header },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(await res.json()).toMatchObject({ error: { data: { code: 'UNAUTHORIZED', detail } } });
  });
});

describe('tokens the Engine may send', () => {
  it.each([
    ['a list audience containing worker', () => engineToken({ aud: ['engine', 'worker'] })],
    ['no exp and no iat', () => engineTokenWithout('exp', 'iat')],
    ['nbf in the past', () => engineToken({ nbf: Math.floor(Date.now() / 1000) - 10 })],
  ])('accepts %s', async (_, token) => {
    expect((await limits(`Bearer ${await token()}`)).status).toBe(200);
  });

  it.each(['bearer', 'BEARER', 'BeArEr'])('accepts the scheme written %s', async (scheme) => {
    expect((await limits(`${scheme} ${await engineToken()}`)).status).toBe(200);
  });

  it('accepts extra whitespace around the two parts, as Python’s split() does', async () => {
    expect((await limits(`  Bearer   ${await engineToken()}  `)).status).toBe(200);
  });
});

describe('authentication comes before the headers', () => {
  it('answers 401, not 422, with no token and no tenant-id', async () => {
    const res = await limits(undefined, {});
    expect(res.status).toBe(401);
    expect(await res.text()).toBe('{"detail":"Missing authorization header"}');
  });

  it('answers 401, not 422, with a bad token and a bad plan', async () => {
    const res = await limits('Bearer abc', { 'x-plan-type': 'pro' });
    expect(res.status).toBe(401);
  });
});

describe('verified tokens are remembered, never past their expiry', () => {
  afterEach(() => vi.useRealTimers());

  it('refuses a token that was accepted before once it has expired', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const token = await sign({ ver: '1', aud: 'worker', exp: Math.floor(start / 1000) + 2 });
    expect((await limits(`Bearer ${token}`)).status).toBe(200);
    expect((await limits(`Bearer ${token}`)).status).toBe(200); // from the cache
    vi.setSystemTime(start + 3_000);
    const res = await limits(`Bearer ${token}`);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ detail: 'Invalid token. Error: Signature has expired' });
  });
});

describe('clock tolerance', () => {
  it('is 0 by default and configurable', async () => {
    const expiredTenSecondsAgo = await engineToken({ exp: Math.floor(Date.now() / 1000) - 10 });
    expect((await limits(`Bearer ${expiredTenSecondsAgo}`)).status).toBe(401);
    const tolerant = createBillingApp({ secret: SECRET, clockToleranceSeconds: 30 });
    const res = await tolerant.request('/billing/limits', {
      headers: { authorization: `Bearer ${expiredTenSecondsAgo}`, 'tenant-id': 'org-123' },
    });
    expect(res.status).toBe(200);
  });
});

describe('disableAuth', () => {
  it('answers without any token', async () => {
    const open = createBillingApp({ disableAuth: true });
    const res = await open.request('/billing/limits', { headers: { 'tenant-id': 'org-123' } });
    expect(res.status).toBe(200);
  });
});
