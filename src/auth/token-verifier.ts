import { compactVerify, errors as joseErrors } from 'jose';
import { LRUCache } from 'lru-cache';
import { InvalidTokenError } from './errors.js';
import {
  checkHeaderParameters,
  checkRegisteredClaims,
  decodeCompactToken,
  expirySeconds,
  parsePayload,
  pythonStr,
} from './pyjwt-compat.js';

export type TokenClaims = Readonly<Record<string, unknown>>;

/**
 * How one token check ended: `cached` = accepted from the verified-token cache, `verified` =
 * its signature and claims checked now and accepted, `refused` = not accepted.
 */
export const TOKEN_CHECK_RESULTS = ['cached', 'verified', 'refused'] as const;
export type TokenCheckResult = (typeof TOKEN_CHECK_RESULTS)[number];

export interface TokenVerifierOptions {
  /** HS256 shared secret. */
  secret: string;
  /** The `aud` a token must carry (string or list containing it). */
  audience: string;
  /** When set, the `ver` claim must equal it exactly (the Engine's worker tokens carry `"1"`). */
  requiredVersion?: string;
  /** Claims a token must carry (PyJWT's `require`), checked after the audience; a blank string counts as missing. */
  requiredClaims?: readonly string[];
  /** Leeway for `exp`/`nbf`/`iat`, in seconds. The original had none. */
  clockToleranceSeconds?: number;
  /** How many verified tokens to remember; 0 turns the cache off. */
  cacheSize?: number;
  /** Milliseconds since the epoch; injectable so tests control expiry. */
  now?: () => number;
  /** Told how each check ended (the cache's hit rate, refusals); never throws into the check. */
  onCheck?: (result: TokenCheckResult) => void;
}

export type TokenVerifier = (token: string) => Promise<TokenClaims>;

const ALLOWED_ALGORITHM = 'HS256';

interface VerifiedToken {
  claims: TokenClaims;
  /** Seconds since the epoch after which the token must be checked again (and refused). */
  expiresAt: number;
}

/**
 * Verifies HS256 tokens the way the original PyJWT-based endpoint did, with jose doing the
 * signature check against a key imported once.
 *
 * Verified tokens are remembered in a bounded LRU keyed by the token string: the Engine reuses
 * one token for many requests, and an HMAC per request would dominate the hot path. Only tokens
 * signed with our secret get in, so an attacker can't fill the cache, and an entry is never
 * trusted past the token's own `exp`.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const {
    audience,
    requiredVersion,
    requiredClaims,
    clockToleranceSeconds = 0,
    cacheSize = 10_000,
    now = () => Date.now(),
    onCheck = () => {},
  } = options;
  if (!options.secret) throw new Error('createTokenVerifier: the secret must not be empty');
  const key = crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(options.secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['verify'],
  );
  const verified = cacheSize > 0 ? new LRUCache<string, VerifiedToken>({ max: cacheSize }) : undefined;

  async function verifyUncached(token: string, nowSeconds: number): Promise<VerifiedToken> {
    const { header, payloadBytes } = decodeCompactToken(token);
    checkHeaderParameters(header);
    if (!('alg' in header)) throw new InvalidTokenError('Algorithm not specified');
    if (header['alg'] !== ALLOWED_ALGORITHM) {
      throw new InvalidTokenError('The specified alg value is not allowed');
    }
    try {
      // PyJWT decodes a padded signature (`…==`) to the same bytes; jose refuses the padding.
      await compactVerify(token.replace(/=+$/, ''), await key, { algorithms: [ALLOWED_ALGORITHM] });
    } catch (error) {
      // An invalid JWS to jose is one whose segments PyJWT decoded (its decoding is more lenient:
      // padding, for one) but whose signing input is not what was signed: to PyJWT, a bad signature.
      if (
        error instanceof joseErrors.JWSSignatureVerificationFailed ||
        error instanceof joseErrors.JWSInvalid
      ) {
        throw new InvalidTokenError('Signature verification failed');
      }
      if (error instanceof joseErrors.JOSEError) throw new InvalidTokenError(error.message);
      throw error;
    }
    const claims = parsePayload(payloadBytes);
    checkRegisteredClaims(claims, {
      audience,
      nowSeconds,
      leewaySeconds: clockToleranceSeconds,
      required: requiredClaims,
    });
    if (requiredVersion !== undefined && claims['ver'] !== requiredVersion) {
      throw new InvalidTokenError(`Unsupported token version: ${pythonStr(claims['ver'])}`);
    }
    const exp = expirySeconds(claims);
    return { claims, expiresAt: exp === undefined ? Number.POSITIVE_INFINITY : exp + clockToleranceSeconds };
  }

  return async function verifyToken(token: string): Promise<TokenClaims> {
    const nowSeconds = now() / 1000;
    const cached = verified?.get(token);
    // PyJWT refuses when exp <= now - leeway; the same boundary applies to a cached entry.
    if (cached && cached.expiresAt > nowSeconds) {
      onCheck('cached');
      return cached.claims;
    }
    if (cached) verified?.delete(token);
    let fresh: VerifiedToken;
    try {
      fresh = await verifyUncached(token, nowSeconds);
    } catch (error) {
      onCheck('refused');
      throw error;
    }
    onCheck('verified');
    verified?.set(token, fresh);
    return fresh.claims;
  };
}
