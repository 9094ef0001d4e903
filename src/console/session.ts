import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Who is signed in to the console, until when, and the token their forms must carry. */
export interface ConsoleSession {
  /** Random: what "Sign out" records, so that every replica refuses a copy of the cookie after. */
  readonly id: string;
  /** The admin token's `sub`: the actor every write of this session is audited under. */
  readonly subject: string;
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
  /** Echoed by every form of this session (CSRF): a page of another origin cannot read it. */
  readonly csrf: string;
}

/** A session lasts at most this long, however long the token it began with was valid. */
export const SESSION_MAX_AGE_MS = 8 * 60 * 60 * 1_000;

/**
 * Seals and opens console sessions. The key is derived from the admin secret, so rotating the
 * secret ends every session (their seals no longer verify), and a session cookie is never a
 * token the admin API would take.
 */
export interface SessionSeal {
  begin(subject: string, now: number): ConsoleSession;
  seal(value: object): string;
  open(sealed: string | undefined): unknown;
  /** The session in a cookie, if it is one of ours and has not expired. */
  sessionOf(sealed: string | undefined, now: number): ConsoleSession | undefined;
}

const KEY_CONTEXT = 'billing-limits console session v1';

export function createSessionSeal(adminSecret: string): SessionSeal {
  const key = createHmac('sha256', adminSecret).update(KEY_CONTEXT).digest();
  const mac = (payload: string) => createHmac('sha256', key).update(payload).digest();
  const seal = (value: object) => {
    const payload = Buffer.from(JSON.stringify(value)).toString('base64url');
    return `${payload}.${mac(payload).toString('base64url')}`;
  };
  const open = (sealed: string | undefined): unknown => {
    if (!sealed) return undefined;
    const [payload, signature, ...rest] = sealed.split('.');
    if (!payload || !signature || rest.length > 0) return undefined;
    const given = Buffer.from(signature, 'base64url');
    const expected = mac(payload);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    try {
      return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
  };
  return {
    begin: (subject, now) => ({
      id: randomBytes(16).toString('base64url'),
      subject,
      expiresAt: now + SESSION_MAX_AGE_MS,
      csrf: randomBytes(32).toString('base64url'),
    }),
    seal,
    open,
    sessionOf(sealed, now) {
      const value = open(sealed) as Partial<ConsoleSession> | undefined;
      if (
        typeof value?.id !== 'string' ||
        typeof value.subject !== 'string' ||
        typeof value.expiresAt !== 'number' ||
        typeof value.csrf !== 'string' ||
        value.expiresAt <= now ||
        // A seal made by a clock far ahead is not trusted past the longest session.
        value.expiresAt > now + SESSION_MAX_AGE_MS
      )
        return undefined;
      return { id: value.id, subject: value.subject, expiresAt: value.expiresAt, csrf: value.csrf };
    },
  };
}

/** Whether a form's token is its session's, compared in constant time. */
export function csrfMatches(session: ConsoleSession, token: unknown): boolean {
  if (typeof token !== 'string') return false;
  const given = Buffer.from(token);
  const expected = Buffer.from(session.csrf);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
