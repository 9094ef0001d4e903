/**
 * `console_session_revocation` through the store (src/db/console-session-store.ts): a signed-out
 * session is refused until it would have expired, a sign-out is idempotent, every replica reads
 * the same list, and each sign-out prunes the sessions that have ended — on PGlite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openTestDatabase,
  STORE_KINDS,
  type StoreKind,
  type TestDatabase,
  unique,
} from '../support/harness.js';

const HOUR = 3_600_000;
const T = Date.parse('2026-12-03T12:00:00.000Z');

describe.each(STORE_KINDS)('console session sign-outs on %s', (kind: StoreKind) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openTestDatabase(kind);
  });
  afterAll(() => database.close());

  it('refuses a signed-out session, once or twice signed out, and no other', async () => {
    const sessions = database.store.consoleSessions;
    const [out, stillIn] = [unique('session'), unique('session')];
    expect(await sessions.isRevoked(out)).toBe(false);
    await sessions.revoke(out, new Date(T + 8 * HOUR), new Date(T));
    await sessions.revoke(out, new Date(T + 8 * HOUR), new Date(T + 1));
    expect(await sessions.isRevoked(out)).toBe(true);
    expect(await sessions.isRevoked(stillIn)).toBe(false);
  });

  it('prunes, at each sign-out, the sign-outs of sessions that have ended', async () => {
    const sessions = database.store.consoleSessions;
    const [ended, endsLater, next] = [unique('session'), unique('session'), unique('session')];
    await sessions.revoke(ended, new Date(T + HOUR), new Date(T));
    await sessions.revoke(endsLater, new Date(T + 3 * HOUR), new Date(T));
    // At T + 2 h the first session would have expired anyway: its entry is no longer needed.
    await sessions.revoke(next, new Date(T + 10 * HOUR), new Date(T + 2 * HOUR));
    expect(await sessions.isRevoked(ended)).toBe(false);
    expect(await sessions.isRevoked(endsLater)).toBe(true);
    expect(await sessions.isRevoked(next)).toBe(true);
  });

  it.runIf(kind === 'postgres')('is read alike by another replica', async () => {
    const replica = await database.openReplica();
    try {
      const id = unique('session');
      await database.store.consoleSessions.revoke(id, new Date(T + 8 * HOUR), new Date(T));
      expect(await replica.consoleSessions.isRevoked(id)).toBe(true);
    } finally {
      await replica.close();
    }
  });
});
