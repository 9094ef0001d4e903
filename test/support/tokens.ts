import { SignJWT } from 'jose';

/** Tokens as the Engine and operators mint them, built here independently of the service's code. */
export async function signToken(secret: string, claims: Record<string, unknown>, ttlSeconds = 3600) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}

export const workerToken = (secret: string) => signToken(secret, { ver: '1', aud: 'worker' });
export const adminToken = (secret: string, sub = 'alice') => signToken(secret, { aud: 'billing-admin', sub });
