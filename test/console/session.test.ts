import { describe, expect, it } from 'vitest';
import { createSessionSeal, csrfMatches, SESSION_MAX_AGE_MS } from '../../src/console/session.js';
import { createSignInLimiter } from '../../src/console/sign-in-limiter.js';

const SECRET = 'console-test-admin-secret-0123456789abcdef';
const NOW = Date.UTC(2026, 11, 3, 12);

describe('console sessions', () => {
  const seal = createSessionSeal(SECRET);

  it('opens what it sealed: an id of 16 random bytes, who, until when (8 hours), and a CSRF token of 32', () => {
    const session = seal.begin('alice', NOW);
    expect(session).toEqual({
      id: expect.any(String),
      subject: 'alice',
      expiresAt: NOW + 8 * 3_600_000,
      csrf: expect.any(String),
    });
    expect(Buffer.from(session.id, 'base64url')).toHaveLength(16);
    expect(Buffer.from(session.csrf, 'base64url')).toHaveLength(32);
    const another = seal.begin('alice', NOW);
    expect(another.id).not.toBe(session.id);
    expect(another.csrf).not.toBe(session.csrf);
    expect(seal.sessionOf(seal.seal(session), NOW + 1)).toEqual(session);
  });

  it('ends at its expiry, and refuses one claiming to last longer than a session can', () => {
    const session = seal.begin('alice', NOW);
    const sealed = seal.seal(session);
    expect(seal.sessionOf(sealed, session.expiresAt - 1)).toEqual(session);
    expect(seal.sessionOf(sealed, session.expiresAt)).toBeUndefined();
    const forever = seal.seal({ ...session, expiresAt: NOW + SESSION_MAX_AGE_MS + 1 });
    expect(seal.sessionOf(forever, NOW)).toBeUndefined();
  });

  it('refuses a changed payload or signature, another secret’s seal, and what is not a seal', () => {
    const sealed = seal.seal(seal.begin('alice', NOW));
    const [payload, signature] = sealed.split('.') as [string, string];
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), subject: 'mallory' }),
    ).toString('base64url');
    expect(seal.sessionOf(`${forged}.${signature}`, NOW)).toBeUndefined();
    expect(seal.sessionOf(`${payload}.${signature.slice(1)}`, NOW)).toBeUndefined();
    expect(seal.sessionOf(`${payload}.${signature}.x`, NOW)).toBeUndefined();
    expect(createSessionSeal(`${SECRET}-rotated`).sessionOf(sealed, NOW)).toBeUndefined();
    for (const junk of [undefined, '', '.', 'abc', `${payload}.`, `.${signature}`]) {
      expect(seal.sessionOf(junk, NOW)).toBeUndefined();
    }
  });

  it('refuses a sealed value that is not a session', () => {
    expect(seal.sessionOf(seal.seal({ subject: 'alice', expiresAt: NOW + 1 }), NOW)).toBeUndefined();
    // A session sealed before sessions had ids (it could not be signed out everywhere): sign in again.
    const { id: _, ...withoutId } = seal.begin('alice', NOW);
    expect(seal.sessionOf(seal.seal(withoutId), NOW)).toBeUndefined();
    expect(seal.sessionOf(seal.seal({ subject: 1, expiresAt: NOW + 1, csrf: 'x' }), NOW)).toBeUndefined();
    expect(seal.sessionOf(seal.seal({ subject: 'a', expiresAt: '1', csrf: 'x' }), NOW)).toBeUndefined();
    const notJson = `${Buffer.from('{').toString('base64url')}`;
    expect(seal.open(`${notJson}.${seal.seal({}).split('.')[1]}`)).toBeUndefined();
  });

  it('matches a form’s CSRF token only when it is the session’s own', () => {
    const session = seal.begin('alice', NOW);
    expect(csrfMatches(session, session.csrf)).toBe(true);
    expect(csrfMatches(session, `${session.csrf}x`)).toBe(false);
    expect(csrfMatches(session, session.csrf.slice(1))).toBe(false);
    expect(csrfMatches(session, seal.begin('alice', NOW).csrf)).toBe(false);
    expect(csrfMatches(session, undefined)).toBe(false);
    expect(csrfMatches(session, '')).toBe(false);
  });
});

describe('sign-in limiter', () => {
  it('refuses an address that failed 10 times in a minute, until the minute ends', () => {
    const limiter = createSignInLimiter();
    for (let i = 0; i < 9; i++) limiter.failed('10.0.0.1', NOW + i);
    expect(limiter.waitFor('10.0.0.1', NOW + 9)).toBe(0);
    limiter.failed('10.0.0.1', NOW + 10);
    expect(limiter.waitFor('10.0.0.1', NOW + 10)).toBe(60_000 - 10);
    expect(limiter.waitFor('10.0.0.2', NOW + 10)).toBe(0);
    expect(limiter.waitFor('10.0.0.1', NOW + 59_999)).toBe(1);
    expect(limiter.waitFor('10.0.0.1', NOW + 60_000)).toBe(0);
    // A new window starts with the next failure.
    limiter.failed('10.0.0.1', NOW + 60_000);
    expect(limiter.waitFor('10.0.0.1', NOW + 60_001)).toBe(0);
  });

  it('keeps at most maxAddresses windows: the least recently seen is forgotten', () => {
    const limiter = createSignInLimiter({ attempts: 1, maxAddresses: 2 });
    limiter.failed('a', NOW);
    expect(limiter.waitFor('a', NOW)).toBeGreaterThan(0);
    limiter.failed('b', NOW);
    limiter.failed('c', NOW);
    expect(limiter.waitFor('a', NOW)).toBe(0);
  });
});
