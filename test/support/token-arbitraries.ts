/**
 * Shared pieces of the property tests for hostile headers and forged tokens: arbitraries for
 * header values and token mutations, and an oracle of the wire contract written from the
 * README and the original FastAPI/PyJWT behaviour — deliberately not importing the service's own
 * validators, so that a property can disagree with the service. The token oracle follows PyJWT
 * 2.12.0's source (jwt/api_jws.py, api_jwt.py, utils.py) and CPython's base64 and repr; the
 * service's known divergences from it are flags of {@link AS_SHIPPED}, each pinned by an `it.fails`.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';

// ---------------------------------------------------------------------------------------------
// HTTP header values
// ---------------------------------------------------------------------------------------------

/** Characters a header value may carry through `fetch`'s `Headers` and over HTTP: VCHAR, SP, HTAB, obs-text. */
export const headerChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
  { weight: 3, arbitrary: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)) },
  { weight: 1, arbitrary: fc.constant('\t') },
);

/** Header-value characters but the tab: what a tenant id may hold. */
export const nonTabHeaderChar: fc.Arbitrary<string> = headerChar.filter((ch) => ch !== '\t');

/**
 * A header value whose length is uniform in [min, max] (fc.string alone keeps to short strings),
 * from {@link headerChar} or another unit.
 */
export const headerValueOfLength = (
  min: number,
  max: number,
  unit: fc.Arbitrary<string> = headerChar,
): fc.Arbitrary<string> =>
  fc.integer({ min, max }).chain((n) => fc.string({ unit, minLength: n, maxLength: n }));

/** Leading/trailing optional whitespace, as a client may send it (HTTP and `Headers` strip it). */
export const optionalWhitespace: fc.Arbitrary<string> = fc.string({
  unit: fc.constantFrom(' ', '\t'),
  maxLength: 3,
});

/**
 * What a header value becomes once `Headers` (and Node's HTTP parser) has normalized it: leading
 * and trailing HTTP whitespace (SP, HTAB; CR and LF can't occur here) removed. Nothing else — in
 * particular not U+00A0 or U+0085, which are not HTTP whitespace.
 */
export const httpTrim = (value: string): string => value.replace(/^[ \t]+/, '').replace(/[ \t]+$/, '');

/**
 * What Python's `str.split()` (no argument) splits on and strips, within the Latin-1 range a header
 * value can carry (Starlette decodes header bytes as Latin-1): `\t \n \v \f \r`, the information
 * separators U+001C–U+001F, SP, NEL (U+0085) and NBSP (U+00A0).
 */
export const PYTHON_WHITESPACE: readonly string[] = [
  '\t',
  '\n',
  '\v',
  '\f',
  '\r',
  '\u001c',
  '\u001d',
  '\u001e',
  '\u001f',
  ' ',
  '\u0085',
  '\u00a0',
];

/** Python's `value.split()`: runs of {@link PYTHON_WHITESPACE} separate, and none is ever a part. */
export function pythonSplit(value: string): string[] {
  const parts: string[] = [];
  let part = '';
  for (const ch of value) {
    if (!PYTHON_WHITESPACE.includes(ch)) part += ch;
    else if (part !== '') {
      parts.push(part);
      part = '';
    }
  }
  if (part !== '') parts.push(part);
  return parts;
}

// ---------------------------------------------------------------------------------------------
// The contract of GET /billing/limits (header mode), as an oracle
// ---------------------------------------------------------------------------------------------

export const PLANS = ['free', 'growth', 'enterprise'] as const;
export type Plan = (typeof PLANS)[number];

/** The default catalog, from the README (independent of src/limits/catalog.ts). */
export const CATALOG: Record<Plan, { deployments: number | null; self_hosted_workers: number | null }> = {
  free: { deployments: 1, self_hosted_workers: 5 },
  growth: { deployments: 5, self_hosted_workers: null },
  enterprise: { deployments: null, self_hosted_workers: null },
};

/**
 * The tenant-id pattern as declared (the regex source in src/contract/limits.ts, also what the
 * service publishes in openapi.json): what pydantic echoes in `msg` and `ctx.pattern` for a
 * `pattern=` constraint — the declared string, no JavaScript `/…/`.
 */
export const TENANT_ID_PATTERN = '^[^\\u0000-\\u001f\\u007f]*$';

const PLAN_CHOICES = "'free', 'growth' or 'enterprise'";

export interface ValidationEntry {
  type: string;
  loc: [string, string];
  msg: string;
  input: unknown;
  ctx?: Record<string, unknown>;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what the rule is about.
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/**
 * pydantic v2's entries for `tenant-id: str = Header(min_length=1, max_length=255, pattern=...)`:
 * ONE entry, for the first failing constraint in pydantic-core's order (min_length, max_length,
 * pattern) — a 257-character id with a tab is `string_too_long` only. `value` is what the server
 * sees (already trimmed), undefined when absent.
 */
export function tenantIdEntries(value: string | undefined): ValidationEntry[] {
  const loc: [string, string] = ['header', 'tenant-id'];
  if (value === undefined) return [{ type: 'missing', loc, msg: 'Field required', input: null }];
  // Python's len(): code points (a character past U+FFFF counts one, where `.length` counts two).
  const length = [...value].length;
  if (length < 1) {
    return [
      {
        type: 'string_too_short',
        loc,
        msg: 'String should have at least 1 character',
        input: value,
        ctx: { min_length: 1 },
      },
    ];
  }
  if (length > 255) {
    return [
      {
        type: 'string_too_long',
        loc,
        msg: 'String should have at most 255 characters',
        input: value,
        ctx: { max_length: 255 },
      },
    ];
  }
  if (CONTROL_CHARACTER.test(value)) {
    return [
      {
        type: 'string_pattern_mismatch',
        loc,
        msg: `String should match pattern '${TENANT_ID_PATTERN}'`,
        input: value,
        ctx: { pattern: TENANT_ID_PATTERN },
      },
    ];
  }
  return [];
}

/** pydantic's enum entry for `x-plan-type`; absent means the default, `free`. */
export function planEntries(value: string | undefined): ValidationEntry[] {
  if (value === undefined || (PLANS as readonly string[]).includes(value)) return [];
  return [
    {
      type: 'enum',
      loc: ['header', 'x-plan-type'],
      msg: `Input should be ${PLAN_CHOICES}`,
      input: value,
      ctx: { expected: PLAN_CHOICES },
    },
  ];
}

export type LimitsAnswer =
  | { status: 200; body: { tenant_id: string; limits: Record<string, unknown> } }
  | { status: 422; body: { detail: ValidationEntry[] } };

/** The whole answer of `GET /billing/limits` in header mode with a valid token, from what the server sees. */
export function expectedLimitsAnswer(tenant: string | undefined, plan: string | undefined): LimitsAnswer {
  const entries = [...tenantIdEntries(tenant), ...planEntries(plan)];
  if (entries.length > 0 || tenant === undefined) return { status: 422, body: { detail: entries } };
  const planType = (plan ?? 'free') as Plan;
  return {
    status: 200,
    body: { tenant_id: tenant, limits: { ...CATALOG[planType], plan_type: planType } },
  };
}

// ---------------------------------------------------------------------------------------------
// Authorization header
// ---------------------------------------------------------------------------------------------

export const MISSING_AUTHORIZATION = 'Missing authorization header';
export const MALFORMED_AUTHORIZATION = "Invalid authorization header format. Expected 'Bearer <token>'";
export const INVALID = 'Invalid token. Error: ';

export type AuthorizationOutcome =
  | { kind: 'missing' }
  | { kind: 'malformed' }
  | { kind: 'token'; token: string };

/**
 * The original's reading of the header, from the value HTTP delivers: `if not header` → missing;
 * `header.split()` (Python's whitespace, {@link pythonSplit}) into exactly `bearer <token>`.
 */
export function readAuthorization(raw: string | undefined): AuthorizationOutcome {
  if (raw === undefined) return { kind: 'missing' };
  const value = httpTrim(raw);
  if (value === '') return { kind: 'missing' };
  const parts = pythonSplit(value);
  const [scheme, token] = parts;
  if (parts.length !== 2 || scheme === undefined || token === undefined) return { kind: 'malformed' };
  if (scheme.toLowerCase() !== 'bearer') return { kind: 'malformed' };
  return { kind: 'token', token };
}

/** A scheme spelled `bearer` in random case. */
export const bearerInAnyCase: fc.Arbitrary<string> = fc
  .array(fc.boolean(), { minLength: 6, maxLength: 6 })
  .map((upper) => [...'bearer'].map((ch, i) => (upper[i] ? ch.toUpperCase() : ch)).join(''));

// ---------------------------------------------------------------------------------------------
// 401 sentences
// ---------------------------------------------------------------------------------------------

/**
 * Every reason the service may give after `Invalid token. Error: ` — PyJWT's words (README:
 * "PyJWT's words: … "), with the service's wording of JSON and UTF-8 failures (Python's own
 * messages can't be reproduced word for word; `Invalid header string: ` / `Invalid payload
 * string: ` is what callers match on).
 */
const TOKEN_REASONS = new Set([
  'Not enough segments',
  'Invalid header padding',
  'Invalid payload padding',
  'Invalid crypto padding',
  'Invalid header string: not valid UTF-8',
  'Invalid header string: not valid JSON',
  'Invalid header string: must be a json object',
  'Invalid payload string: not valid UTF-8',
  'Invalid payload string: not valid JSON',
  'Invalid payload string: must be a json object',
  'Algorithm not specified',
  'The specified alg value is not allowed',
  'Key ID header parameter must be a string',
  "Invalid 'crit' header: must be a non-empty list",
  "Invalid 'crit' header: values must be strings",
  'It is required that you pass in a value for the "detached_payload" argument to decode a message having the b64 header set to false.',
  'Signature verification failed',
  'Signature has expired',
  'The token is not yet valid (nbf)',
  'The token is not yet valid (iat)',
  "Audience doesn't match",
  'Token is missing the "aud" claim',
  'Invalid claim format in token',
  'Issued At claim (iat) must be an integer.',
  'Not Before claim (nbf) must be an integer.',
  'Expiration Time claim (exp) must be an integer.',
  'Subject must be a string',
  'JWT ID must be a string',
]);

const TOKEN_REASON_PATTERNS = [
  /^Unsupported token version: /,
  // The first unsupported `crit` entry, echoed as given.
  /^Unsupported critical extension: /,
  /^Critical extension '.*' is missing from headers$/s,
];

/** Whether a 401 `detail` is one of the sentences the contract documents. */
export function isDocumentedSentence(detail: string): boolean {
  if (detail === MISSING_AUTHORIZATION || detail === MALFORMED_AUTHORIZATION) return true;
  if (!detail.startsWith(INVALID)) return false;
  const reason = detail.slice(INVALID.length);
  return TOKEN_REASONS.has(reason) || TOKEN_REASON_PATTERNS.some((pattern) => pattern.test(reason));
}

// ---------------------------------------------------------------------------------------------
// Tokens: PyJWT's decoding and checks, modelled (independent of src/auth)
// ---------------------------------------------------------------------------------------------

export const b64url = (value: string | Uint8Array): string =>
  Buffer.from(typeof value === 'string' ? Buffer.from(value, 'utf8') : value).toString('base64url');

export const b64json = (value: unknown): string => b64url(JSON.stringify(value));

/** Strict base64url (optional trailing `=`), or undefined. */
export function decodeSegment(segment: string): Uint8Array | undefined {
  const data = segment.replace(/=+$/, '');
  if (!/^[A-Za-z0-9_-]*$/.test(data) || data.length % 4 === 1) return undefined;
  return Buffer.from(data, 'base64url');
}

/** base64 sextets by byte: both alphabets, as `urlsafe_b64decode` turns `-_` into `+/` and keeps `+/`. */
const SEXTET = new Map<number, number>(
  [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'].map((ch, i) => [
    ch.charCodeAt(0),
    i,
  ]),
);
SEXTET.set('-'.charCodeAt(0), 62);
SEXTET.set('_'.charCodeAt(0), 63);

/**
 * PyJWT's `base64url_decode`: the segment's UTF-8 bytes padded with `=` to a multiple of four,
 * then `base64.urlsafe_b64decode`, i.e. CPython's non-strict `binascii.a2b_base64`: bytes outside
 * the alphabet are skipped, a `=` ends the input once it completes a group of at least two
 * characters (and is skipped otherwise), and a group left incomplete is an error ("Invalid …
 * padding" to PyJWT). So `<sig>==`, `<sig>===`, `<sig>!=` and `+`/`/` for `-`/`_` all decode.
 */
export function pyjwtBase64Decode(segment: string): Uint8Array | undefined {
  const bytes = [...Buffer.from(segment, 'utf8')];
  while (bytes.length % 4 !== 0) bytes.push(0x3d);
  const out: number[] = [];
  let quad = 0;
  let left = 0;
  let pads = 0;
  for (const byte of bytes) {
    if (byte === 0x3d) {
      if (quad >= 2 && quad + ++pads >= 4) return Uint8Array.from(out);
      continue;
    }
    const sextet = SEXTET.get(byte);
    if (sextet === undefined) continue;
    pads = 0;
    if (quad === 0) left = sextet;
    else if (quad === 1) {
      out.push(((left << 2) | (sextet >> 4)) & 0xff);
      left = sextet & 0x0f;
    } else if (quad === 2) {
      out.push(((left << 4) | (sextet >> 2)) & 0xff);
      left = sextet & 0x03;
    } else out.push(((left << 6) | sextet) & 0xff);
    quad = (quad + 1) % 4;
  }
  return quad === 0 ? Uint8Array.from(out) : undefined;
}

/**
 * The service's decoding of a segment: base64url only, at most two `=` at the end, never 4n+1
 * characters. Stricter than PyJWT's ({@link pyjwtBase64Decode}): a known divergence, see
 * {@link TokenDialect.lenientBase64}.
 */
export function strictBase64urlDecode(segment: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(segment)) return undefined;
  return decodeSegment(segment);
}

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });

function decodeJson(bytes: Uint8Array | undefined): { ok: true; value: unknown } | { ok: false } {
  if (!bytes) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(utf8Fatal.decode(bytes)) };
  } catch {
    return { ok: false };
  }
}

/** Same JSON value, key order included (a reordered header is another signing input anyway). */
const deepEqual = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Whether `candidate` is the genuine token in all but spelling: its header JSON, payload JSON and
 * signature bytes, decoded, equal `original`'s. (Base64url has slack in the last character of a
 * segment, so a different spelling can still decode to the same bytes.) A safety net under the
 * exact oracle: whatever the oracle says, a 200 must never go to anything else.
 */
export function isGenuineToken(candidate: string, original: string): boolean {
  const split = (token: string) => {
    const first = token.indexOf('.');
    const last = token.lastIndexOf('.');
    if (first === -1 || first === last) return undefined;
    return [token.slice(0, first), token.slice(first + 1, last), token.slice(last + 1)] as const;
  };
  const c = split(candidate);
  const o = split(original);
  if (!c || !o) return false;
  const [ch, cp, cs] = c;
  const [oh, op, os] = o;
  const headerC = decodeJson(decodeSegment(ch));
  const headerO = decodeJson(decodeSegment(oh));
  const payloadC = decodeJson(decodeSegment(cp));
  const payloadO = decodeJson(decodeSegment(op));
  const sigC = decodeSegment(cs);
  const sigO = decodeSegment(os);
  if (!headerC.ok || !headerO.ok || !payloadC.ok || !payloadO.ok || !sigC || !sigO) return false;
  return (
    deepEqual(headerC.value, headerO.value) &&
    deepEqual(payloadC.value, payloadO.value) &&
    Buffer.from(sigC).equals(Buffer.from(sigO))
  );
}

/**
 * How the original (PyJWT) and the service read a token, where they are KNOWN to differ. Each
 * `false`/`'service'` in {@link AS_SHIPPED} is one divergence, pinned by an `it.fails` in
 * forged-tokens.property.test.ts ("known divergences from PyJWT 2.12.0"); the properties pass
 * AS_SHIPPED so that they still check every other answer exactly. Everything the service fixed
 * (padding after the signature, padded header/payload, UTF-8, `crit` before the signature, Python's
 * repr of quotes and small floats) is modelled the same in both dialects.
 */
export interface TokenDialect {
  /** PyJWT decodes segments with CPython's non-strict base64 ({@link pyjwtBase64Decode}). */
  lenientBase64: boolean;
  /** Python's repr escapes non-printable characters (`\n`, `\x7f`, …) of strings nested in `ver`. */
  reprEscapesNonPrintable: boolean;
}

/**
 * The contract: the original endpoint on PyJWT 2.12.0. Its header checks (`kid` a string, `crit`,
 * `b64: false`, "Algorithm not specified") and claim checks (`sub`/`jti` strings) are the
 * service's too, so both dialects model them the same.
 */
export const PYJWT_2_12: TokenDialect = {
  lenientBase64: true,
  reprEscapesNonPrintable: true,
};

/** What the service ships today. */
export const AS_SHIPPED: TokenDialect = {
  lenientBase64: false,
  reprEscapesNonPrintable: false,
};

export type TokenVerdict = { ok: true } | { ok: false; reason: string };

/**
 * How the JSON of a header or payload is read: UTF-8 (strictly), then JSON, then it must be an
 * object. Worded as the service words it (Python's own json messages can't be reproduced). Not
 * modelled: Python's `json.loads(bytes)` also strips a UTF-8 BOM (a documented deviation), detects
 * UTF-16/32 and reads `NaN`/`Infinity` (pinned by an `it.fails`) — random bytes practically never
 * hit those.
 */
function readJsonObject(bytes: Uint8Array, what: 'header' | 'payload'): Record<string, unknown> | string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return `Invalid ${what} string: not valid UTF-8`;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return `Invalid ${what} string: not valid JSON`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `Invalid ${what} string: must be a json object`;
  }
  return value as Record<string, unknown>;
}

/** PyJWT 2.12.0's `_validate_crit` (its only supported extension is `b64`). */
function pyjwtCritProblem(header: Record<string, unknown>): string | undefined {
  const crit = header['crit'];
  if (!Array.isArray(crit) || crit.length === 0) return "Invalid 'crit' header: must be a non-empty list";
  for (const ext of crit) {
    if (typeof ext !== 'string') return "Invalid 'crit' header: values must be strings";
    if (ext !== 'b64') return `Unsupported critical extension: ${ext}`;
    if (!Object.hasOwn(header, ext)) return `Critical extension '${ext}' is missing from headers`;
  }
  return undefined;
}

/** The service's `crit` check: it supports no extension. */
export interface TokenVerdictOptions {
  /** The HS256 secret the original was configured with. */
  secret: string;
  /** The verifier's clock, in seconds. */
  nowSeconds: number;
  dialect?: TokenDialect;
}

/**
 * The original's verdict on a bearer token: PyJWT's `jwt.decode(token, secret, algorithms=["HS256"],
 * audience="worker")` — `_load` (segments, header padding, header JSON, payload padding, crypto
 * padding), `_validate_headers` (kid, crit), `b64`, `_verify_signature` (alg, then HMAC), the payload's
 * JSON, `_validate_claims` — and then the endpoint's `ver == "1"`.
 */
export function tokenVerdict(token: string, options: TokenVerdictOptions): TokenVerdict {
  const dialect = options.dialect ?? PYJWT_2_12;
  const fail = (reason: string): TokenVerdict => ({ ok: false, reason });
  const first = token.indexOf('.');
  const last = token.lastIndexOf('.');
  if (first === -1 || first === last) return fail('Not enough segments');
  const decode = dialect.lenientBase64 ? pyjwtBase64Decode : strictBase64urlDecode;
  const headerBytes = decode(token.slice(0, first));
  if (!headerBytes) return fail('Invalid header padding');
  const header = readJsonObject(headerBytes, 'header');
  if (typeof header === 'string') return fail(header);
  const payloadBytes = decode(token.slice(first + 1, last));
  if (!payloadBytes) return fail('Invalid payload padding');
  const signature = decode(token.slice(last + 1));
  if (!signature) return fail('Invalid crypto padding');

  const has = (name: string) => Object.hasOwn(header, name);
  if (has('kid') && typeof header['kid'] !== 'string') {
    return fail('Key ID header parameter must be a string');
  }
  if (has('crit')) {
    const problem = pyjwtCritProblem(header);
    if (problem) return fail(problem);
  }
  if (header['b64'] === false) {
    return fail(
      'It is required that you pass in a value for the "detached_payload" argument to decode a message having the b64 header set to false.',
    );
  }
  if (!has('alg')) return fail('Algorithm not specified');
  if (header['alg'] !== 'HS256') return fail('The specified alg value is not allowed');
  const signingInput = Buffer.from(token.slice(0, last), 'utf8');
  const expected = createHmac('sha256', options.secret).update(signingInput).digest();
  if (!expected.equals(Buffer.from(signature))) return fail('Signature verification failed');

  const payload = readJsonObject(payloadBytes, 'payload');
  if (typeof payload === 'string') return fail(payload);
  return claimsVerdict(payload, options.nowSeconds, dialect);
}

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

const base64urlChar = fc.constantFrom(...BASE64URL_ALPHABET);

/** Characters a mutation may put into a token: mostly base64url, some structure, some hostile. */
const tokenChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 10, arbitrary: base64urlChar },
  { weight: 2, arbitrary: fc.constantFrom('.', '=') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('+', '/', '!', '"', '{', ' ', '\t', '\u00e9', '\u00ff', '\u00a0', '\u0085'),
  },
);

export const base64urlString = (maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: base64urlChar, maxLength });

/** A JSON header the attacker writes; `alg` from the refused list or the allowed one. */
const forgedHeader: fc.Arbitrary<Record<string, unknown>> = fc
  .record(
    {
      alg: fc.constantFrom(
        'none',
        'None',
        'HS512',
        'HS384',
        'RS256',
        'ES256',
        'PS256',
        'HS256 ',
        'hs256',
        'HS256',
      ),
      typ: fc.constantFrom('JWT', 'jwt', 'at+jwt'),
      kid: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom(1, null, ['k'])),
      jku: fc.constant('https://attacker.example/jwks.json'),
      x5u: fc.constant('https://attacker.example/cert.pem'),
      jwk: fc.constant({ kty: 'oct', k: b64url('attacker') }),
      crit: fc.oneof(
        fc.constant(['exp']),
        fc.constant(['b64']),
        fc.constant([]),
        fc.constant(['']),
        fc.constant('exp'),
        fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
      ),
      b64: fc.oneof(fc.constant(false), fc.constant(true), fc.constant('false')),
    },
    { requiredKeys: [] },
  )
  .map((header) => header as Record<string, unknown>);

export type TokenMutation =
  | { kind: 'flip'; at: number; ch: string }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'segments'; order: number[] }
  | { kind: 'truncate'; keep: number }
  | { kind: 'dots'; at: number; dots: string }
  | { kind: 'header'; header: Record<string, unknown> | string }
  | { kind: 'payload'; payload: Record<string, unknown> | string }
  | { kind: 'segment'; which: 0 | 1 | 2; raw: string }
  | { kind: 'lastChar'; which: 0 | 1 | 2; ch: string }
  | { kind: 'pad'; which: 0 | 1 | 2; padding: string }
  | { kind: 'random'; segments: string[] }
  | { kind: 'none' };

const segmentIndex = fc.constantFrom(0 as const, 1 as const, 2 as const);

const bigPayload = fc
  .record({ size: fc.integer({ min: 50_000, max: 110_000 }), admin: fc.boolean() })
  .map(({ size, admin }) => ({ ver: '1', aud: 'worker', admin, padding: 'x'.repeat(size) }));

/** One mutation of a compact token. */
export const tokenMutation: fc.Arbitrary<TokenMutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), ch: tokenChar }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.string({ unit: tokenChar, minLength: 1, maxLength: 3 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({
    kind: fc.constant('segments' as const),
    order: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 4 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant('dots' as const), at: fc.nat(), dots: fc.constantFrom('.', '..', '...') }),
  fc.record({
    kind: fc.constant('header' as const),
    header: fc.oneof(
      { weight: 6, arbitrary: forgedHeader },
      { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
      { weight: 1, arbitrary: fc.constantFrom('[]', 'null', '"HS256"', '{"alg":"HS256"', '{}') },
    ),
  }),
  fc.record({
    kind: fc.constant('payload' as const),
    payload: fc.oneof(
      bigPayload,
      fc.record({ ver: fc.constant('1'), aud: fc.constant('worker'), admin: fc.constant(true) }),
      fc.string({ maxLength: 30 }),
      fc.constantFrom('[]', 'null', '{', '{"ver":"1","aud":"worker"}'),
    ),
  }),
  fc.record({
    kind: fc.constant('segment' as const),
    which: segmentIndex,
    raw: fc.string({ unit: tokenChar, maxLength: 60 }),
  }),
  fc.record({ kind: fc.constant('lastChar' as const), which: segmentIndex, ch: base64urlChar }),
  fc.record({
    kind: fc.constant('pad' as const),
    which: segmentIndex,
    padding: fc.constantFrom('=', '==', '==='),
  }),
  fc.record({
    kind: fc.constant('random' as const),
    segments: fc.array(base64urlString(120), { minLength: 1, maxLength: 5 }),
  }),
  fc.constant({ kind: 'none' as const }),
);

function withSegment(token: string, which: 0 | 1 | 2, change: (segment: string) => string): string {
  const parts = token.split('.');
  const index = which === 2 ? parts.length - 1 : which;
  const segment = parts[index];
  if (segment === undefined) return token;
  parts[index] = change(segment);
  return parts.join('.');
}

/** Applies a mutation to a token (index arguments wrap around the token's length). */
export function applyMutation(token: string, mutation: TokenMutation): string {
  const len = Math.max(token.length, 1);
  switch (mutation.kind) {
    case 'flip': {
      const at = mutation.at % len;
      return token.slice(0, at) + mutation.ch + token.slice(at + 1);
    }
    case 'insert': {
      const at = mutation.at % (token.length + 1);
      return token.slice(0, at) + mutation.text + token.slice(at);
    }
    case 'delete': {
      const at = mutation.at % len;
      return token.slice(0, at) + token.slice(at + mutation.count);
    }
    case 'segments': {
      const parts = token.split('.');
      return mutation.order.map((i) => parts[i] ?? '').join('.');
    }
    case 'truncate':
      return token.slice(0, mutation.keep % len);
    case 'dots': {
      const dotIndexes = [...token].flatMap((ch, i) => (ch === '.' ? [i] : []));
      const positions = [0, token.length, ...dotIndexes];
      const at = positions[mutation.at % positions.length] ?? 0;
      const isDot = token[at] === '.';
      return token.slice(0, at) + mutation.dots + token.slice(isDot ? at + 1 : at);
    }
    case 'header': {
      const header = typeof mutation.header === 'string' ? b64url(mutation.header) : b64json(mutation.header);
      return withSegment(token, 0, () => header);
    }
    case 'payload': {
      const payload =
        typeof mutation.payload === 'string' ? b64url(mutation.payload) : b64json(mutation.payload);
      return withSegment(token, 1, () => payload);
    }
    case 'segment':
      return withSegment(token, mutation.which, () => mutation.raw);
    case 'lastChar':
      return withSegment(token, mutation.which, (s) => s.slice(0, -1) + mutation.ch);
    case 'pad':
      return withSegment(token, mutation.which, (s) => s + mutation.padding);
    case 'random':
      return mutation.segments.join('.');
    case 'none':
      return token;
  }
}

/** One to three mutations in a row. */
export const tokenMutations: fc.Arbitrary<TokenMutation[]> = fc.array(tokenMutation, {
  minLength: 1,
  maxLength: 3,
});

export const applyMutations = (token: string, mutations: readonly TokenMutation[]): string =>
  mutations.reduce(applyMutation, token);

// ---------------------------------------------------------------------------------------------
// Claims: PyJWT's checks, modelled
// ---------------------------------------------------------------------------------------------

/**
 * Python's `int(x)` on a JSON value as PyJWT applies it to iat/nbf/exp; 'ValueError' where PyJWT
 * answers "must be an integer", 'TypeError' where Python raises TypeError.
 *
 * Modelled as the service implements it, with these known disagreements with CPython (all make the
 * service stricter or only change a message):
 * - CPython's int() also accepts non-ASCII decimal digits (`int('١٢') == 12`) and strips
 *   U+001C–U+001F and U+0085 as whitespace; the service only takes ASCII digits and JS `\s`.
 * - CPython ≥ 3.11 raises ValueError past 4300 digits; the service parses them (to ±Infinity).
 * - PyJWT catches only ValueError: for null, a list or an object `int()` raises TypeError, which
 *   escaped PyJWT (a 500 in the original: PyJWT 2.12.0 catches ValueError only); the service answers 401 "... must be an
 *   integer." — the contract's "never 500" wins, and the test holds the service to that.
 */
export function pythonInt(value: unknown): number | 'ValueError' | 'TypeError' {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return Math.trunc(value);
  if (typeof value === 'string') {
    const stripped = value.replace(/^\s+|\s+$/g, '');
    if (!/^[+-]?[0-9]+(_[0-9]+)*$/.test(stripped)) return 'ValueError';
    return Number(BigInt(stripped.replaceAll('_', '')));
  }
  return 'TypeError';
}

/** Python's truthiness of a JSON value. */
export function pythonFalsy(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

/**
 * Python's repr of a string: single quotes, or double quotes when it holds `'` and no `"`; the
 * backslash and the chosen quote escaped; with `escapeNonPrintable` (Python) also `\t \n \r` and
 * every other non-printable character (`\x7f`, `\x85`, `\u2028`, …), which the service leaves as
 * they are (see {@link TokenDialect.reprEscapesNonPrintable}). Printable is approximated with the
 * JS engine's Unicode tables; Python 3.11's are older, so a few astral characters unassigned to
 * Python but assigned in V8 come out unescaped here (the contract dialect only).
 */
function pythonReprString(s: string, escapeNonPrintable: boolean): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (!escapeNonPrintable) out += ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u.test(ch) && ch !== ' ') {
      const code = ch.codePointAt(0) ?? 0;
      if (code < 0x100) out += `\\x${code.toString(16).padStart(2, '0')}`;
      else if (code < 0x10000) out += `\\u${code.toString(16).padStart(4, '0')}`;
      else out += `\\U${code.toString(16).padStart(8, '0')}`;
    } else out += ch;
  }
  return out + quote;
}

/**
 * Python's str() of a number as Python parses it from the JSON text JSON.stringify wrote: digits
 * (an int) for integral values below 1e21, else a float, whose repr switches to exponent form
 * below 1e-4 (`1e-05`, two-digit exponent) where JS keeps fixed notation (`0.00001`). (From 1e16
 * on Python's float repr is in exponent form too, but a JSON.stringify'd number that large is
 * written as digits — an int to Python — below 1e21, and as `1e+21` from there, as JS prints it.)
 */
function pythonNumber(n: number): string {
  const abs = Math.abs(n);
  if (!Number.isInteger(n) && abs < 1e-4) {
    const [mantissa = '', exponent = '0'] = n.toExponential().split('e');
    const e = Number(exponent);
    return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  return String(n);
}

function pythonRepr(value: unknown, dialect: TokenDialect): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return pythonNumber(value);
  if (typeof value === 'string') return pythonReprString(value, dialect.reprEscapesNonPrintable);
  if (Array.isArray(value)) return `[${value.map((v) => pythonRepr(v, dialect)).join(', ')}]`;
  const entries = Object.entries(value as Record<string, unknown>).map(
    ([k, v]) => `${pythonRepr(k, dialect)}: ${pythonRepr(v, dialect)}`,
  );
  return `{${entries.join(', ')}}`;
}

/** Python's `str(x)` for a JSON value, as in f"Unsupported token version: {ver}". */
export function pythonStr(value: unknown, dialect: TokenDialect = PYJWT_2_12): string {
  if (typeof value === 'string') return value;
  return pythonRepr(value, dialect);
}

/**
 * PyJWT's `_validate_claims` (iat, nbf, exp, aud, then — PyJWT ≥ 2.10 — sub and jti; no leeway)
 * followed by the original's `ver == "1"` check, on the payload exactly as the server parses it.
 */
export function claimsVerdict(
  payload: Record<string, unknown>,
  nowSeconds: number,
  dialect: TokenDialect = PYJWT_2_12,
): TokenVerdict {
  const fail = (reason: string): TokenVerdict => ({ ok: false, reason });
  const checks = [
    ['iat', 'Issued At claim (iat) must be an integer.'],
    ['nbf', 'Not Before claim (nbf) must be an integer.'],
    ['exp', 'Expiration Time claim (exp) must be an integer.'],
  ] as const;
  for (const [claim, notAnInteger] of checks) {
    if (!Object.hasOwn(payload, claim)) continue;
    const n = pythonInt(payload[claim]);
    if (typeof n !== 'number') return fail(notAnInteger);
    if (claim === 'iat' && n > nowSeconds) return fail('The token is not yet valid (iat)');
    if (claim === 'nbf' && n > nowSeconds) return fail('The token is not yet valid (nbf)');
    if (claim === 'exp' && n <= nowSeconds) return fail('Signature has expired');
  }
  const aud = payload['aud'];
  if (pythonFalsy(aud)) return fail('Token is missing the "aud" claim');
  const audiences = typeof aud === 'string' ? [aud] : aud;
  if (!Array.isArray(audiences) || audiences.some((a) => typeof a !== 'string')) {
    return fail('Invalid claim format in token');
  }
  if (!audiences.includes('worker')) return fail("Audience doesn't match");
  if (Object.hasOwn(payload, 'sub') && typeof payload['sub'] !== 'string') {
    return fail('Subject must be a string');
  }
  if (Object.hasOwn(payload, 'jti') && typeof payload['jti'] !== 'string') {
    return fail('JWT ID must be a string');
  }
  const ver = payload['ver'];
  if (ver !== '1') return fail(`Unsupported token version: ${pythonStr(ver, dialect)}`);
  return { ok: true };
}
