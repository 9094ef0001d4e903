import { describe, expect, it } from 'vitest';
import { engineToken, engineTokenWithout, sign, useHarness } from '../support/harness.js';

// Every bad credential on every route, this one included: test/http/auth.security.test.ts.
const h = useHarness();

async function limits(
  authorization: string | undefined,
  headers: Record<string, string> = { 'tenant-id': 'org-123' },
  target = h,
) {
  return target.request('/billing/limits', {
    headers: { ...headers, ...(authorization === undefined ? {} : { authorization }) },
  });
}

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
  it('refuses a token that was accepted before once the app’s clock has passed its expiry', async () => {
    const target = h.withApp({});
    const token = await sign({ ver: '1', aud: 'worker', exp: Math.floor(target.clock.now() / 1000) + 2 });
    expect((await limits(`Bearer ${token}`, undefined, target)).status).toBe(200);
    expect((await limits(`Bearer ${token}`, undefined, target)).status).toBe(200); // from the cache
    await target.clock.advance(3_000);
    const res = await limits(`Bearer ${token}`, undefined, target);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ detail: 'Invalid token. Error: Signature has expired' });
  });
});

describe('clock tolerance', () => {
  it('is 0 by default and configurable', async () => {
    const expiredTenSecondsAgo = await engineToken({ exp: Math.floor(Date.now() / 1000) - 10 });
    expect((await limits(`Bearer ${expiredTenSecondsAgo}`)).status).toBe(401);
    const tolerant = h.withApp({ config: { clockToleranceSeconds: 30 } });
    expect((await limits(`Bearer ${expiredTenSecondsAgo}`, undefined, tolerant)).status).toBe(200);
  });
});

describe('disableAuth', () => {
  it('answers without any token', async () => {
    const open = h.withApp({ config: { disableAuth: true } });
    expect((await limits(undefined, undefined, open)).status).toBe(200);
  });
});
