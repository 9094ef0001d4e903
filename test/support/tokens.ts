import { sign } from './worker-token-cases.js';

/** Tokens as the Engine and operators mint them, built with the tests' own signer, not the service's. */
function signFresh(secret: string, claims: Record<string, unknown>, ttlSeconds = 3600) {
  const now = Math.floor(Date.now() / 1000);
  return sign({ ...claims, iat: now, exp: now + ttlSeconds }, { secret });
}

export const workerToken = (secret: string) => signFresh(secret, { ver: '1', aud: 'worker' });
export const adminToken = (secret: string, sub = 'alice') => signFresh(secret, { aud: 'billing-admin', sub });
