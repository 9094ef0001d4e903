import { SignJWT } from 'jose';

/** Operator tokens: HS256 with their own secret and this audience, so a worker token is never an admin one. */
export const ADMIN_AUDIENCE = 'billing-admin';

/** Every admin write is audited under the token's `sub`: a token must name someone. */
export const ADMIN_REQUIRED_CLAIMS = ['sub'] as const;

export interface AdminTokenOptions {
  /** Who the audit log names. */
  subject: string;
  ttlSeconds?: number;
  /** Now, on the clock the verifier reads (ms since the epoch); default the system's. */
  nowMs?: number;
}

/**
 * Mints an admin token; `subject` is who the audit log names.
 *
 * @example
 * const token = await signAdminToken(process.env.BILLING_ADMIN_SECRET, { subject: 'alice' });
 */
export async function signAdminToken(
  secret: string,
  { subject, ttlSeconds = 3600, nowMs = Date.now() }: AdminTokenOptions,
): Promise<string> {
  const now = Math.floor(nowMs / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setAudience(ADMIN_AUDIENCE)
    .setSubject(subject)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}
