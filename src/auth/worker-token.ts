import { SignJWT } from 'jose';

/** The Engine's worker tokens: audience `worker`, claim `ver` = `"1"`. */
export const WORKER_AUDIENCE = 'worker';
export const WORKER_TOKEN_VERSION = '1';

/**
 * Mints a worker token exactly as the Engine does — for local use (the start-up curl line,
 * the admin CLI); the Engine mints its own in production.
 *
 * @example
 * const token = await signWorkerToken(process.env.BILLING_JWT_SECRET, { ttlSeconds: 3600 });
 */
export async function signWorkerToken(secret: string, { ttlSeconds = 3600 } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ver: WORKER_TOKEN_VERSION })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setAudience(WORKER_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}
