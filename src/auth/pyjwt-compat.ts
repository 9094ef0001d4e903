/**
 * The parts of PyJWT's behaviour the original endpoint exposed to callers: how a compact token
 * is split and decoded, in which order claims are checked, and how each failure is worded.
 * jose does the cryptography; this module only reproduces PyJWT's checks around it so the
 * Engine keeps seeing the sentences it saw from the Python service.
 */
import { InvalidTokenError } from './errors.js';

export interface DecodedCompactToken {
  header: Record<string, unknown>;
  payloadBytes: Uint8Array;
}

const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

function base64urlDecode(segment: string): Uint8Array | undefined {
  const data = segment.replace(/=+$/, '');
  // A base64 string can't have one character past a multiple of four; Python raises "Incorrect padding".
  if (!BASE64URL.test(segment) || data.length % 4 === 1) return undefined;
  return Buffer.from(data, 'base64url');
}

/** Python's `json.loads` refuses bytes that are not UTF-8; `Buffer#toString` would replace them. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function parseJsonObject(bytes: Uint8Array, what: 'header' | 'payload'): Record<string, unknown> {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new InvalidTokenError(`Invalid ${what} string: not valid UTF-8`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Python's json messages can't be reproduced word for word; the prefix is what callers match on.
    throw new InvalidTokenError(`Invalid ${what} string: not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidTokenError(`Invalid ${what} string: must be a json object`);
  }
  return value as Record<string, unknown>;
}

/** PyJWT's `_load`: segments, then header, payload and signature decoding, in that order. */
export function decodeCompactToken(token: string): DecodedCompactToken {
  const lastDot = token.lastIndexOf('.');
  const firstDot = token.indexOf('.');
  if (lastDot === -1 || firstDot === lastDot) throw new InvalidTokenError('Not enough segments');
  const headerBytes = base64urlDecode(token.slice(0, firstDot));
  if (!headerBytes) throw new InvalidTokenError('Invalid header padding');
  const header = parseJsonObject(headerBytes, 'header');
  const payloadBytes = base64urlDecode(token.slice(firstDot + 1, lastDot));
  if (!payloadBytes) throw new InvalidTokenError('Invalid payload padding');
  if (!base64urlDecode(token.slice(lastDot + 1))) throw new InvalidTokenError('Invalid crypto padding');
  return { header, payloadBytes };
}

/** The `crit` extensions PyJWT understands (RFC 7797's unencoded payload). */
const SUPPORTED_CRITICAL_EXTENSIONS = new Set(['b64']);

/**
 * PyJWT 2.12's header checks, in its order, before the algorithm and the signature: `kid` must be
 * a string; `crit` a non-empty list of strings naming extensions it supports and that the header
 * carries (an unsupported name is echoed, as PyJWT does — JSON-escaped in the answer); `b64: false`
 * would need a detached payload, which the Engine never sends.
 */
export function checkHeaderParameters(header: Record<string, unknown>): void {
  if ('kid' in header && typeof header['kid'] !== 'string') {
    throw new InvalidTokenError('Key ID header parameter must be a string');
  }
  if ('crit' in header) {
    const crit = header['crit'];
    if (!Array.isArray(crit) || crit.length === 0) {
      throw new InvalidTokenError("Invalid 'crit' header: must be a non-empty list");
    }
    for (const extension of crit) {
      if (typeof extension !== 'string') {
        throw new InvalidTokenError("Invalid 'crit' header: values must be strings");
      }
      if (!SUPPORTED_CRITICAL_EXTENSIONS.has(extension)) {
        throw new InvalidTokenError(`Unsupported critical extension: ${extension}`);
      }
      if (!(extension in header)) {
        throw new InvalidTokenError(`Critical extension '${extension}' is missing from headers`);
      }
    }
  }
  if (header['b64'] === false) {
    throw new InvalidTokenError(
      'It is required that you pass in a value for the "detached_payload" argument to decode a message having the b64 header set to false.',
    );
  }
}

export function parsePayload(payloadBytes: Uint8Array): Record<string, unknown> {
  return parseJsonObject(payloadBytes, 'payload');
}

/** Python's `int(x)` on a JSON value; `undefined` where Python raises. */
function pythonInt(value: unknown): number | undefined {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return Number.isFinite(value) ? Math.trunc(value) : undefined;
  if (typeof value === 'string' && /^\s*[+-]?\d+(_\d+)*\s*$/.test(value)) {
    return Number.parseInt(value.replaceAll('_', ''), 10);
  }
  return undefined;
}

/** Python's `str(x)` for a JSON value, as the original formatted `Unsupported token version: {ver}`. */
export function pythonStr(value: unknown): string {
  if (value === undefined || value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return pythonNumber(value);
  return pythonRepr(value);
}

/** Python's `repr` of a number: floats below 1e-4 or from 1e16 on in exponent form (`1e-05`, `1e+16`). */
function pythonNumber(value: number): string {
  const abs = Math.abs(value);
  if (Number.isInteger(value) || abs === 0 || (abs >= 1e-4 && abs < 1e16)) return String(value);
  const [mantissa = '', exponent = '0'] = value.toExponential().split('e');
  const power = Number(exponent);
  return `${mantissa}e${power < 0 ? '-' : '+'}${String(Math.abs(power)).padStart(2, '0')}`;
}

/** Python's `repr` of a string: single quotes unless it holds a single quote and no double quote. */
function pythonStringRepr(value: string): string {
  const escaped = value.replaceAll('\\', '\\\\');
  if (value.includes("'") && !value.includes('"')) return `"${escaped}"`;
  return `'${escaped.replaceAll("'", "\\'")}'`;
}

function pythonRepr(value: unknown): string {
  if (typeof value === 'string') return pythonStringRepr(value);
  if (typeof value === 'number') return pythonNumber(value);
  if (Array.isArray(value)) return `[${value.map(pythonRepr).join(', ')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).map(([k, v]) => `${pythonRepr(k)}: ${pythonRepr(v)}`);
    return `{${entries.join(', ')}}`;
  }
  return pythonStr(value);
}

export interface ClaimRules {
  audience: string;
  nowSeconds: number;
  leewaySeconds: number;
  /** PyJWT's `options={"require": [...]}`: claims a token must carry. */
  required?: readonly string[];
}

/** PyJWT's `MissingRequiredClaimError`, as it words it. */
export const missingClaim = (claim: string) => new InvalidTokenError(`Token is missing the "${claim}" claim`);

/**
 * PyJWT's `_validate_required_claims`: a claim is missing when `payload.get(claim) is None`. A
 * string of nothing but whitespace names no one either, so it counts as missing too (ours: PyJWT
 * would accept `""`), worded as PyJWT words a missing claim.
 */
function checkRequiredClaims(payload: Record<string, unknown>, required: readonly string[]): void {
  for (const claim of required) {
    const value = Object.hasOwn(payload, claim) ? payload[claim] : undefined;
    if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) {
      throw missingClaim(claim);
    }
  }
}

/**
 * PyJWT's `_validate_claims` order: iat, nbf, exp, audience, sub, jti. `exp` and `iat` are optional.
 * Required claims come after the audience, where PyJWT checks them first: a token meant for another
 * audience (a worker token on an admin route) is told so, not that it lacks a subject it was never
 * meant to carry. Only admin tokens, which have no original to match, require a claim.
 */
export function checkRegisteredClaims(payload: Record<string, unknown>, rules: ClaimRules): void {
  const { nowSeconds: now, leewaySeconds: leeway } = rules;
  if ('iat' in payload) {
    const iat = pythonInt(payload['iat']);
    if (iat === undefined) throw new InvalidTokenError('Issued At claim (iat) must be an integer.');
    if (iat > now + leeway) throw new InvalidTokenError('The token is not yet valid (iat)');
  }
  if ('nbf' in payload) {
    const nbf = pythonInt(payload['nbf']);
    if (nbf === undefined) throw new InvalidTokenError('Not Before claim (nbf) must be an integer.');
    if (nbf > now + leeway) throw new InvalidTokenError('The token is not yet valid (nbf)');
  }
  if ('exp' in payload) {
    const exp = pythonInt(payload['exp']);
    if (exp === undefined) throw new InvalidTokenError('Expiration Time claim (exp) must be an integer.');
    if (exp <= now - leeway) throw new InvalidTokenError('Signature has expired');
  }
  checkAudience(payload['aud'], rules.audience);
  if (rules.required) checkRequiredClaims(payload, rules.required);
  // PyJWT 2.10 on: when present, `sub` and `jti` must be strings.
  if ('sub' in payload && typeof payload['sub'] !== 'string') {
    throw new InvalidTokenError('Subject must be a string');
  }
  if ('jti' in payload && typeof payload['jti'] !== 'string') {
    throw new InvalidTokenError('JWT ID must be a string');
  }
}

function checkAudience(claim: unknown, audience: string): void {
  if (isPythonFalsy(claim)) throw missingClaim('aud');
  const audiences = typeof claim === 'string' ? [claim] : claim;
  if (!Array.isArray(audiences) || audiences.some((entry) => typeof entry !== 'string')) {
    throw new InvalidTokenError('Invalid claim format in token');
  }
  if (!audiences.includes(audience)) throw new InvalidTokenError("Audience doesn't match");
}

/** PyJWT tests `not payload["aud"]`: an empty string, list or object counts as missing. */
function isPythonFalsy(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value).length === 0;
}

/** The expiry of a verified token in seconds, for bounding how long its verification may be cached. */
export function expirySeconds(payload: Record<string, unknown>): number | undefined {
  return 'exp' in payload ? pythonInt(payload['exp']) : undefined;
}
