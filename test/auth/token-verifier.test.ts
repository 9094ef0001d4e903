import { createHmac } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { InvalidTokenError } from '../../src/auth/errors.js';
import { pythonStr } from '../../src/auth/pyjwt-compat.js';
import { createTokenVerifier } from '../../src/auth/token-verifier.js';
import { WORKER_SECRET as SECRET } from '../support/harness.js';

const NOW = 1_800_000_000; // seconds; every token below is relative to this fixed clock

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

function sign(claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', ...header })
    .sign(new TextEncoder().encode(SECRET));
}

/** Signs any header, even ones jose refuses to produce. */
/** Signs segments as given: objects as JSON, or raw bytes (to send what a JSON encoder never would). */
function signRaw(
  header: Record<string, unknown> | Buffer,
  claims: Record<string, unknown> | Buffer,
  secret: string = SECRET,
) {
  const segment = (part: Record<string, unknown> | Buffer) =>
    Buffer.isBuffer(part) ? part.toString('base64url') : b64(part);
  const input = `${segment(header)}.${segment(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

function verifierAt(clock: { seconds: number }, options: { cacheSize?: number; leeway?: number } = {}) {
  return createTokenVerifier({
    secret: SECRET,
    audience: 'worker',
    requiredVersion: '1',
    clockToleranceSeconds: options.leeway ?? 0,
    cacheSize: options.cacheSize ?? 100,
    now: () => clock.seconds * 1000,
  });
}

async function reasonOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof InvalidTokenError) return error.reason;
    throw error;
  }
  return 'accepted';
}

describe('PyJWT-compatible checks', () => {
  const verify = verifierAt({ seconds: NOW });

  it.each([
    ['payload that is not base64url', () => `${b64({ alg: 'HS256' })}.a.sig`, 'Invalid payload padding'],
    [
      'signature that is not base64url',
      () => `${b64({ alg: 'HS256' })}.${b64({})}.abcde`,
      'Invalid crypto padding',
    ],
    [
      'header that is not JSON',
      () => `${b64('nope')}.${b64({})}.sig`,
      'Invalid header string: not valid JSON',
    ],
    [
      'header that is a JSON array',
      () => `${b64([1])}.${b64({})}.sig`,
      'Invalid header string: must be a json object',
    ],
    ['header without alg', () => `${b64({ typ: 'JWT' })}.${b64({})}.sig`, 'Algorithm not specified'],
  ])('refuses a %s', async (_, token, reason) => {
    expect(await reasonOf(verify(token()))).toBe(reason);
  });

  it('refuses a payload that is not a JSON object, after checking the signature', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SECRET));
    const [header] = token.split('.');
    const forged = `${header}.${b64('[1,2]')}.${token.split('.')[2]}`;
    expect(await reasonOf(verify(forged))).toBe('Signature verification failed');
  });

  it.each([
    [{ aud: 'worker', ver: '1', iat: String(NOW - 10) }, 'accepted'],
    [{ aud: 'worker', ver: '1', iat: 'yesterday' }, 'Issued At claim (iat) must be an integer.'],
    [{ aud: 'worker', ver: '1', nbf: null }, 'Not Before claim (nbf) must be an integer.'],
    [{ aud: 'worker', ver: '1', exp: [1] }, 'Expiration Time claim (exp) must be an integer.'],
    [{ aud: 'worker', ver: '1', exp: NOW }, 'Signature has expired'],
    [{ aud: 'worker', ver: '1', exp: NOW + 1 }, 'accepted'],
    [{ aud: 'worker', ver: '1', iat: NOW }, 'accepted'],
    [{ aud: 'worker', ver: '1', iat: NOW + 1 }, 'The token is not yet valid (iat)'],
    [{ aud: 'worker', ver: '1', nbf: NOW }, 'accepted'],
    [{ aud: 'worker', ver: '1', nbf: NOW + 1 }, 'The token is not yet valid (nbf)'],
    [{ aud: ['worker', 7], ver: '1' }, 'Invalid claim format in token'],
    [{ aud: { worker: true }, ver: '1' }, 'Invalid claim format in token'],
    [{ aud: [], ver: '1' }, 'Token is missing the "aud" claim'],
    [{ aud: '', ver: '1' }, 'Token is missing the "aud" claim'],
    // PyJWT checks iat, nbf and exp before the audience, and the version last.
    [{ aud: 'engine', exp: NOW - 1 }, 'Signature has expired'],
    [{ aud: 'engine', ver: '2' }, "Audience doesn't match"],
    [{ aud: 'worker', ver: true }, 'Unsupported token version: True'],
    [{ aud: 'worker', ver: ['1'] }, "Unsupported token version: ['1']"],
  ])('claims %o → %s', async (claims, expected) => {
    expect(await reasonOf(verify(await sign(claims)))).toBe(expected);
  });

  it('accepts a correctly signed token built by hand (the control for the next case)', async () => {
    expect(await reasonOf(verify(signRaw({ alg: 'HS256' }, { aud: 'worker', ver: '1' })))).toBe('accepted');
  });

  it('refuses a critical header it does not understand, in PyJWT 2.12’s words, before the signature', async () => {
    const token = signRaw({ alg: 'HS256', crit: ['x-unknown'], 'x-unknown': 1 }, { aud: 'worker', ver: '1' });
    expect(await reasonOf(verify(token))).toBe('Unsupported critical extension: x-unknown');
    const forged = signRaw(
      { alg: 'HS256', crit: ['x-unknown'] },
      { aud: 'worker', ver: '1' },
      'another-secret',
    );
    expect(await reasonOf(verify(forged))).toBe('Unsupported critical extension: x-unknown');
    const malformed = signRaw({ alg: 'HS256', crit: 'x-unknown' }, { aud: 'worker', ver: '1' });
    expect(await reasonOf(verify(malformed))).toBe("Invalid 'crit' header: must be a non-empty list");
  });

  it('decodes a padded signature as PyJWT does, and calls a padded header a bad signature', async () => {
    const token = signRaw({ alg: 'HS256' }, { aud: 'worker', ver: '1' });
    expect(await reasonOf(verify(`${token}==`))).toBe('accepted');
    const [header, payload, signature] = token.split('.');
    expect(await reasonOf(verify(`${header}=.${payload}.${signature}`))).toBe(
      'Signature verification failed',
    );
  });

  it('refuses header and payload bytes that are not UTF-8, even when signed with the secret', async () => {
    // Latin-1 writes U+00FF as the lone byte 0xFF: never valid UTF-8.
    const notUtf8 = (json: string) => Buffer.from(json, 'latin1');
    const header = notUtf8('{"alg":"HS256","typ":"JW\u00ff"}');
    expect(await reasonOf(verify(signRaw(header, { aud: 'worker', ver: '1' })))).toBe(
      'Invalid header string: not valid UTF-8',
    );
    const payload = notUtf8('{"aud":"worker","ver":"1","x":"\u00ff"}');
    expect(await reasonOf(verify(signRaw({ alg: 'HS256' }, payload)))).toBe(
      'Invalid payload string: not valid UTF-8',
    );
  });
});

describe('pythonStr', () => {
  it.each([
    [undefined, 'None'],
    [null, 'None'],
    [1, '1'],
    ['2', '2'],
    [false, 'False'],
    [{ a: "it's" }, `{'a': "it's"}`],
    [{ a: 'say "hi"' }, `{'a': 'say "hi"'}`],
    [{ a: `it's "so"` }, `{'a': 'it\\'s "so"'}`],
    [0.00001, '1e-05'],
    [2.5e-7, '2.5e-07'],
    [0.5, '0.5'],
  ])('formats %o as Python would: %s', (value, expected) => {
    expect(pythonStr(value)).toBe(expected);
  });
});

describe('the verified-token cache', () => {
  it('serves a token again without re-verifying, until the token expires', async () => {
    const clock = { seconds: NOW };
    const verify = verifierAt(clock);
    const token = await sign({ aud: 'worker', ver: '1', exp: NOW + 60 });
    expect(await reasonOf(verify(token))).toBe('accepted');
    clock.seconds = NOW + 59;
    expect(await reasonOf(verify(token))).toBe('accepted');
    clock.seconds = NOW + 60;
    expect(await reasonOf(verify(token))).toBe('Signature has expired');
  });

  it('honours the leeway for cached entries exactly as for fresh ones', async () => {
    const clock = { seconds: NOW };
    const verify = verifierAt(clock, { leeway: 30 });
    const token = await sign({ aud: 'worker', ver: '1', exp: NOW + 10 });
    expect(await reasonOf(verify(token))).toBe('accepted');
    clock.seconds = NOW + 39;
    expect(await reasonOf(verify(token))).toBe('accepted');
    clock.seconds = NOW + 40;
    expect(await reasonOf(verify(token))).toBe('Signature has expired');
  });

  it('honours the leeway for iat and nbf in the future: up to it, not past it', async () => {
    const verify = verifierAt({ seconds: NOW }, { leeway: 30 });
    for (const claim of ['iat', 'nbf']) {
      expect(await reasonOf(verify(await sign({ aud: 'worker', ver: '1', [claim]: NOW + 30 })))).toBe(
        'accepted',
      );
      expect(await reasonOf(verify(await sign({ aud: 'worker', ver: '1', [claim]: NOW + 31 })))).toBe(
        `The token is not yet valid (${claim})`,
      );
    }
  });

  it('tells how each check ended: verified, then from the cache, refused once expired', async () => {
    const clock = { seconds: NOW };
    const results: string[] = [];
    const verify = createTokenVerifier({
      secret: SECRET,
      audience: 'worker',
      now: () => clock.seconds * 1000,
      onCheck: (result) => results.push(result),
    });
    // No version required: a token without `ver` passes.
    const token = await sign({ aud: 'worker', exp: NOW + 10 });
    expect(await reasonOf(verify(token))).toBe('accepted');
    expect(await reasonOf(verify(token))).toBe('accepted');
    clock.seconds = NOW + 10;
    expect(await reasonOf(verify(token))).toBe('Signature has expired');
    expect(await reasonOf(verify(`${token}x`))).toBe('Signature verification failed');
    expect(results).toEqual(['verified', 'cached', 'refused', 'refused']);
  });

  it('never remembers a refusal: a token that is not yet valid becomes valid', async () => {
    const clock = { seconds: NOW };
    const verify = verifierAt(clock);
    const token = await sign({ aud: 'worker', ver: '1', nbf: NOW + 5 });
    expect(await reasonOf(verify(token))).toBe('The token is not yet valid (nbf)');
    clock.seconds = NOW + 5;
    expect(await reasonOf(verify(token))).toBe('accepted');
  });

  it('verifies every time when the cache is off', async () => {
    const clock = { seconds: NOW };
    const verify = verifierAt(clock, { cacheSize: 0 });
    const token = await sign({ aud: 'worker', ver: '1', exp: NOW + 1 });
    expect(await reasonOf(verify(token))).toBe('accepted');
    clock.seconds = NOW + 1;
    expect(await reasonOf(verify(token))).toBe('Signature has expired');
  });
});

describe('required claims (admin tokens: the audit log names their subject)', () => {
  const verify = createTokenVerifier({
    secret: SECRET,
    audience: 'billing-admin',
    requiredClaims: ['sub'],
    now: () => NOW * 1000,
  });
  const MISSING_SUB = 'Token is missing the "sub" claim';

  it.each([
    ['no sub', { aud: 'billing-admin' }, MISSING_SUB],
    ['sub null (PyJWT: `payload.get(claim) is None`)', { aud: 'billing-admin', sub: null }, MISSING_SUB],
    ['an empty sub', { aud: 'billing-admin', sub: '' }, MISSING_SUB],
    ['a sub of spaces', { aud: 'billing-admin', sub: '   ' }, MISSING_SUB],
    ['a sub of other whitespace', { aud: 'billing-admin', sub: '\t\n\u00a0\u2003' }, MISSING_SUB],
    // After iat, nbf, exp and the audience (PyJWT checks `require` first): a worker token is told
    // its audience is wrong, not that it has no subject.
    ['no sub, expired', { aud: 'billing-admin', exp: NOW - 1 }, 'Signature has expired'],
    ['no sub, another audience', { aud: 'worker', ver: '1' }, "Audience doesn't match"],
    ['no sub, no audience', {}, 'Token is missing the "aud" claim'],
    // A present sub of another type is PyJWT's own refusal, after the audience.
    ['a sub that is a number', { aud: 'billing-admin', sub: 42 }, 'Subject must be a string'],
    [
      'a sub that is a number, expired',
      { aud: 'billing-admin', sub: 42, exp: NOW - 1 },
      'Signature has expired',
    ],
    ['a subject', { aud: 'billing-admin', sub: 'alice' }, 'accepted'],
    ['a subject with spaces inside', { aud: 'billing-admin', sub: ' alice smith ' }, 'accepted'],
  ])('%s → %s', async (_, claims, expected) => {
    expect(await reasonOf(verify(await sign(claims)))).toBe(expected);
  });

  it('requires nothing unless told: a worker token has no subject', async () => {
    const worker = verifierAt({ seconds: NOW });
    expect(await reasonOf(worker(await sign({ aud: 'worker', ver: '1' })))).toBe('accepted');
  });
});
