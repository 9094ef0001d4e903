/**
 * Property tests: whatever bytes a client puts in the headers of `GET /billing/limits`, the answer
 * is the one the contract (the original FastAPI service) gives — computed here by an oracle in
 * test/support/token-arbitraries.ts, never by the service's own validators — and never a 500.
 */
import { connect } from 'node:net';
import fc from 'fast-check';
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DrainableServer, listen } from '../../src/http/node-server.js';
import { useHarness, WORKER_SECRET } from '../support/harness.js';
import {
  AS_SHIPPED,
  applyMutation,
  bearerInAnyCase,
  expectedLimitsAnswer,
  headerChar,
  headerValueOfLength,
  httpTrim,
  INVALID,
  isDocumentedSentence,
  isGenuineToken,
  type LimitsAnswer,
  MALFORMED_AUTHORIZATION,
  MISSING_AUTHORIZATION,
  nonTabHeaderChar,
  optionalWhitespace,
  PLANS,
  PYTHON_WHITESPACE,
  readAuthorization,
  tokenMutation,
  tokenVerdict,
} from '../support/token-arbitraries.js';

const h = useHarness();

/**
 * How the service reads a header value's bytes (README, "The API"): as UTF-8 when they are valid
 * UTF-8, otherwise as Latin-1 — the original's (Starlette's) reading of every value. A header
 * value here is a byte string, one character per byte, as fetch's `Headers` and Node's parser
 * hold it. Python's strict UTF-8 codec keeps a leading BOM, hence `ignoreBOM`. The only place
 * the oracle departs from the original: it read every value as Latin-1.
 */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
function asText(bytes: string): string {
  try {
    return STRICT_UTF8.decode(Buffer.from(bytes, 'latin1'));
  } catch {
    return bytes;
  }
}

/** A value's UTF-8 bytes as a header value (one character per byte). */
const utf8Bytes = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

/** The Engine's token, minted once (valid for an hour). */
let token = '';
beforeAll(async () => {
  token = await h.workerToken();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** README: a caller's x-request-id is kept when it is 1–128 of `A–Z a–z 0–9 _ . : @ / + = -`. */
const PLAUSIBLE_REQUEST_ID = /^[A-Za-z0-9_.:@/+=-]{1,128}$/;

type HeaderList = [name: string, value: string][];

function headersOf(list: HeaderList): Headers {
  const headers = new Headers();
  for (const [name, value] of list) headers.append(name, value);
  return headers;
}

const limits = (target: Hono, list: HeaderList) =>
  target.request('/billing/limits', { headers: headersOf(list) });

/** Status, content type and the exact body text (key order included). */
async function expectAnswer(res: Response, expected: LimitsAnswer | { status: number; body: unknown }) {
  const text = await res.text();
  expect({ status: res.status, text }).toEqual({
    status: expected.status,
    text: JSON.stringify(expected.body),
  });
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
}

async function expect401(res: Response, detail?: string) {
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toBe('Bearer');
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await res.json()) as { detail: string };
  expect(Object.keys(body)).toEqual(['detail']);
  expect(typeof body.detail).toBe('string');
  if (detail !== undefined) expect(body.detail).toBe(detail);
  return body.detail;
}

// --- arbitraries -------------------------------------------------------------------------------

/** A tenant id the contract accepts (1–255 characters, no control characters), possibly padded. */
const validTenant = fc
  .tuple(
    optionalWhitespace,
    fc.oneof(
      fc.string({ unit: nonTabHeaderChar, minLength: 1, maxLength: 20 }),
      headerValueOfLength(1, 255, nonTabHeaderChar),
      headerValueOfLength(250, 255, nonTabHeaderChar),
    ),
    optionalWhitespace,
  )
  .map(([a, id, b]) => `${a}${id}${b}`);

const tenantValue: fc.Arbitrary<string | undefined> = fc.option(
  fc.oneof(
    { weight: 5, arbitrary: validTenant },
    { weight: 2, arbitrary: headerValueOfLength(0, 40) },
    { weight: 2, arbitrary: headerValueOfLength(250, 262) },
    { weight: 1, arbitrary: headerValueOfLength(250, 262, nonTabHeaderChar) },
    { weight: 1, arbitrary: headerValueOfLength(0, 10_000) },
    { weight: 1, arbitrary: headerValueOfLength(256, 10_000, nonTabHeaderChar) },
    { weight: 1, arbitrary: optionalWhitespace },
  ),
  { nil: undefined, freq: 6 },
);

const planValue: fc.Arbitrary<string | undefined> = fc.option(
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc
        .tuple(optionalWhitespace, fc.constantFrom(...PLANS), optionalWhitespace)
        .map(([a, plan, b]) => `${a}${plan}${b}`),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'Free',
        'GROWTH',
        'pro',
        '',
        'free\tgrowth',
        'free, free',
        'enterprise,',
        '\u00a0free',
        'free\u0085',
        'fr ee',
      ),
    },
    { weight: 2, arbitrary: headerValueOfLength(0, 20) },
    { weight: 1, arbitrary: headerValueOfLength(0, 10_000) },
  ),
  { nil: undefined, freq: 3 },
);

/**
 * Unicode text a header can carry as UTF-8 (any code point but NUL, CR and LF, which `Headers`
 * refuses): printable graphemes, often several bytes each, and raw code points, controls included.
 */
const unicodeText: fc.Arbitrary<string> = fc
  .oneof(
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
    fc.string({ unit: 'grapheme', minLength: 120, maxLength: 300 }),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
    fc
      .tuple(optionalWhitespace, fc.string({ unit: 'grapheme-composite', minLength: 1, maxLength: 20 }))
      .map(([padding, id]) => `${padding}${id}${padding}`),
  )
  .filter((text) => !/[\0\r\n]/.test(text));

const requestIdValue: fc.Arbitrary<string | undefined> = fc.option(
  fc.oneof(
    fc.string({ unit: fc.constantFrom(...'AZaz09_.:@/+=-'), minLength: 1, maxLength: 130 }),
    headerValueOfLength(0, 200),
  ),
  { nil: undefined, freq: 2 },
);

// --- a. tenant-id and x-plan-type -----------------------------------------------------------------

describe('tenant-id and x-plan-type: any value HTTP allows, with a valid token (header mode)', () => {
  it('answers exactly what the contract says: 200 with the catalog limits, or 422 with one entry per failing header', async () => {
    await fc.assert(
      fc.asyncProperty(tenantValue, planValue, requestIdValue, async (tenant, plan, requestId) => {
        const list: HeaderList = [['authorization', `Bearer ${token}`]];
        if (tenant !== undefined) list.push(['tenant-id', tenant]);
        if (plan !== undefined) list.push(['x-plan-type', plan]);
        if (requestId !== undefined) list.push(['x-request-id', requestId]);
        const res = await limits(h.app, list);

        // The oracle sees what HTTP delivers: values without their leading/trailing SP/HTAB, read as text.
        const seenTenant = tenant === undefined ? undefined : asText(httpTrim(tenant));
        const seenPlan = plan === undefined ? undefined : asText(httpTrim(plan));
        // Every byte is exact: statuses, entry order, one entry per failing header, types, locs,
        // messages (the pattern as declared), inputs, ctx.
        await expectAnswer(res, expectedLimitsAnswer(seenTenant, seenPlan));
        expect(res.headers.get('www-authenticate')).toBeNull();

        const echoed = res.headers.get('x-request-id') ?? '';
        const given = requestId === undefined ? undefined : httpTrim(requestId);
        if (given !== undefined && PLAUSIBLE_REQUEST_ID.test(given)) expect(echoed).toBe(given);
        else expect(echoed).toMatch(UUID);
      }),
      { numRuns: 500 },
    );
  });

  it('treats surrounding whitespace as HTTP does (stripped) and inner whitespace as part of the value', async () => {
    const res = await limits(h.app, [
      ['authorization', `Bearer ${token}`],
      ['tenant-id', ' \t org 1\u00a0 '],
      ['x-plan-type', '\tgrowth '],
    ]);
    await expectAnswer(res, {
      status: 200,
      body: {
        tenant_id: 'org 1\u00a0',
        limits: { deployments: 5, self_hosted_workers: null, plan_type: 'growth' },
      },
    });
  });

  // The original read these bytes as Latin-1 (`org-Ã¼` for `org-ü`), so a tenant created as `org-ü`
  // could not be named; the service reads them as the UTF-8 they are. Lengths count characters
  // (code points), as pydantic does: 255 characters may be up to 1020 bytes.
  it('reads any Unicode tenant id sent as its UTF-8 bytes as the id itself', async () => {
    await fc.assert(
      fc.asyncProperty(
        unicodeText,
        fc.option(fc.constantFrom(...PLANS), { nil: undefined }),
        async (id, plan) => {
          const list: HeaderList = [
            ['authorization', `Bearer ${token}`],
            ['tenant-id', utf8Bytes(id)],
          ];
          if (plan !== undefined) list.push(['x-plan-type', plan]);
          const res = await limits(h.app, list);
          await expectAnswer(res, expectedLimitsAnswer(httpTrim(id), plan));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('echoes a Unicode x-plan-type it refuses as the text sent', async () => {
    const res = await limits(h.app, [
      ['authorization', `Bearer ${token}`],
      ['tenant-id', 'org-1'],
      ['x-plan-type', utf8Bytes('gröwth')],
    ]);
    await expectAnswer(res, expectedLimitsAnswer('org-1', 'gröwth'));
  });

  // pydantic reports ONE entry per failing field: pydantic-core's constrained-str validator returns
  // at the first failing constraint (min_length, max_length, pattern). A tenant-id both over 255
  // characters and holding a control character is string_too_long only.
  it('reports a too-long tenant-id with a control character once (string_too_long only)', async () => {
    const tenant = `a\tb${'x'.repeat(254)}`; // 257 characters, a tab inside
    const res = await limits(h.app, [
      ['authorization', `Bearer ${token}`],
      ['tenant-id', tenant],
    ]);
    await expectAnswer(res, {
      status: 422,
      body: {
        detail: [
          {
            type: 'string_too_long',
            loc: ['header', 'tenant-id'],
            msg: 'String should have at most 255 characters',
            input: tenant,
            ctx: { max_length: 255 },
          },
        ],
      },
    });
  });

  // pydantic echoes the pattern in `msg` and `ctx.pattern` as declared — the regex source of
  // src/contract/limits.ts, also what openapi.json publishes — without JavaScript's `/…/`.
  it('words a control character in tenant-id with the declared pattern, without JS slashes', async () => {
    const res = await limits(h.app, [
      ['authorization', `Bearer ${token}`],
      ['tenant-id', 'a\tb'],
    ]);
    const pattern = '^[^\\u0000-\\u001f\\u007f]*$';
    await expectAnswer(res, {
      status: 422,
      body: {
        detail: [
          {
            type: 'string_pattern_mismatch',
            loc: ['header', 'tenant-id'],
            msg: `String should match pattern '${pattern}'`,
            input: 'a\tb',
            ctx: { pattern },
          },
        ],
      },
    });
  });
});

// --- b. Authorization ----------------------------------------------------------------------------

/**
 * Python's whitespace that a header value can carry in process (fetch's `Headers` refuses only NUL,
 * CR and LF): `\t \v \f`, U+001C–U+001F, SP, U+0085, U+00A0.
 */
const pythonWhitespace = fc.constantFrom(...PYTHON_WHITESPACE.filter((ch) => ch !== '\n' && ch !== '\r'));
const separator = fc.string({ unit: pythonWhitespace, minLength: 1, maxLength: 3 });
/** Before and after the value: HTTP whitespace (stripped by HTTP) and Python's (stripped by split()). */
const edgeWhitespace = fc.string({
  unit: fc.oneof(fc.constantFrom(' ', '\t'), pythonWhitespace),
  maxLength: 3,
});

const authorizationValue = (valid: string): fc.Arbitrary<string | undefined> =>
  fc.oneof(
    // well formed, scheme in any case, any whitespace around and between
    {
      weight: 6,
      arbitrary: fc
        .tuple(edgeWhitespace, bearerInAnyCase, separator, edgeWhitespace)
        .map(([a, scheme, sep, b]) => `${a}${scheme}${sep}${valid}${b}`),
    },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: edgeWhitespace },
    { weight: 1, arbitrary: fc.tuple(bearerInAnyCase, edgeWhitespace).map(([s, ws]) => `${s}${ws}`) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.constantFrom(
            'Basic',
            'Token',
            'JWT',
            'Bearer:',
            'Bearerr',
            'Bear',
            'bearer-',
            'Digest',
            'Bearer,',
            '\u00e9Bearer',
          ),
          separator,
        )
        .map(([scheme, sep]) => `${scheme}${sep}${valid}`),
    },
    { weight: 1, arbitrary: bearerInAnyCase.map((scheme) => `${scheme}${valid}`) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(bearerInAnyCase, separator, headerValueOfLength(1, 30), separator, fc.boolean())
        .map(([scheme, sep, junk, sep2, before]) =>
          before ? `${scheme}${sep}${junk}${sep2}${valid}` : `${scheme}${sep}${valid}${sep2}${junk}`,
        ),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(bearerInAnyCase, separator, tokenMutation)
        .map(([scheme, sep, mutation]) => `${scheme}${sep}${applyMutation(valid, mutation)}`),
    },
    { weight: 2, arbitrary: headerValueOfLength(0, 200) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(bearerInAnyCase, fc.integer({ min: 1, max: 10_000 }), fc.constantFrom('A', '.', 'eyJ'))
        .map(([scheme, n, unit]) => `${scheme} ${unit.repeat(n)}`),
    },
    { weight: 1, arbitrary: headerValueOfLength(5_000, 10_000) },
  );

/** The answer to a request with `tenant-id: org-1` and this token, as the original gives it. */
async function expectTokenAnswer(res: Response, bearer: string) {
  const verdict = tokenVerdict(bearer, {
    secret: WORKER_SECRET,
    nowSeconds: Date.now() / 1000,
    dialect: AS_SHIPPED,
  });
  if (verdict.ok) {
    await expectAnswer(res, expectedLimitsAnswer('org-1', undefined));
    // Whatever the oracle says, a 200 never goes to anything but the genuine token.
    expect(isGenuineToken(bearer, token)).toBe(true);
    return;
  }
  const detail = await expect401(res, `${INVALID}${verdict.reason}`);
  expect(isDocumentedSentence(detail), detail).toBe(true);
}

describe('Authorization: any header value', () => {
  it('is answered exactly as the original: 200 only for `<bearer in any case><whitespace><the token>`, otherwise 401 with its sentence', async () => {
    await fc.assert(
      fc.asyncProperty(authorizationValue(token), async (authorization) => {
        const list: HeaderList = [['tenant-id', 'org-1']];
        if (authorization !== undefined) list.push(['authorization', authorization]);
        const res = await limits(h.app, list);
        const seen = readAuthorization(authorization);
        if (seen.kind === 'missing') return void (await expect401(res, MISSING_AUTHORIZATION));
        if (seen.kind === 'malformed') return void (await expect401(res, MALFORMED_AUTHORIZATION));
        // AS_SHIPPED: the token-level divergences from PyJWT pinned in forged-tokens.property.test.ts.
        await expectTokenAnswer(res, seen.token);
      }),
      { numRuns: 600 },
    );
  });

  // The original reads the header with Python's `str.split()`: every whitespace character of the
  // Latin-1 range separates and is stripped at the edges — NEL (U+0085) and U+001C–U+001F included.
  it.each(
    PYTHON_WHITESPACE.filter((ch) => ch !== '\n' && ch !== '\r').map((ch) => [
      `U+${ch.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`,
      ch,
    ]),
  )('splits on and strips %s as Python’s str.split() does', async (_, ch) => {
    for (const authorization of [`Bearer${ch}${token}`, `${ch}bearer ${token}${ch}`]) {
      const res = await limits(h.app, [
        ['tenant-id', 'org-1'],
        ['authorization', authorization],
      ]);
      await expectAnswer(res, expectedLimitsAnswer('org-1', undefined));
    }
    const threeParts = await limits(h.app, [
      ['tenant-id', 'org-1'],
      ['authorization', `Bearer ${token}${ch}x`],
    ]);
    await expect401(threeParts, MALFORMED_AUTHORIZATION);
  });

  it('does not split on characters Python does not count as whitespace (U+0080, U+00AD, U+00FF)', async () => {
    for (const ch of ['\u0080', '\u00ad', '\u00ff']) {
      const res = await limits(h.app, [
        ['tenant-id', 'org-1'],
        ['authorization', `Bearer${ch}${token}`],
      ]);
      await expect401(res, MALFORMED_AUTHORIZATION);
    }
  });
});

// --- c. repeated headers -------------------------------------------------------------------------

/**
 * A repeated header, as the fetch `Headers` has it: each value trimmed, joined with ", ", and the
 * result trimmed again (Request copies the joined value through `Headers` once more) — `''` +
 * `''` is `,`.
 */
const joined = (values: readonly string[]): string => httpTrim(values.map(httpTrim).join(', '));

/**
 * How the service reads a repeated `tenant-id`, `x-plan-type` or `Authorization` header
 * (src/http/request-headers.ts): over a real socket, from Node's raw header list, the FIRST value —
 * as Starlette's `Headers.get` did for the original; in process (`app.request`, no raw header
 * list) the Fetch API's JOINED value `a, b`, the only one there is.
 */
type Reading = 'first' | 'joined';

/** The single value a server sees for a header sent `values.length` times, under a reading. */
function read(values: readonly string[], reading: Reading): string | undefined {
  if (values.length === 0) return undefined;
  if (reading === 'joined') return joined(values);
  return httpTrim(values[0] ?? '');
}

/** {@link read}, then as the service reads the bytes as text (tenant-id, x-plan-type; never Authorization). */
const readText = (values: readonly string[], reading: Reading): string | undefined => {
  const value = read(values, reading);
  return value === undefined ? undefined : asText(value);
};

/** The exact answer (status and body text) for repeated headers, every header read alike. */
function expectedRepeated(
  reading: Reading,
  tenants: readonly string[],
  plans: readonly string[],
  authorizations?: readonly string[],
): { status: number; text: string } {
  const refusal = (detail: string) => ({ status: 401, text: JSON.stringify({ detail }) });
  if (authorizations) {
    const seen = readAuthorization(read(authorizations, reading));
    if (seen.kind === 'missing') return refusal(MISSING_AUTHORIZATION);
    if (seen.kind === 'malformed') return refusal(MALFORMED_AUTHORIZATION);
    const verdict = tokenVerdict(seen.token, {
      secret: WORKER_SECRET,
      nowSeconds: Date.now() / 1000,
      dialect: AS_SHIPPED,
    });
    if (!verdict.ok) return refusal(`${INVALID}${verdict.reason}`);
  }
  const answer = expectedLimitsAnswer(readText(tenants, reading), readText(plans, reading));
  return { status: answer.status, text: JSON.stringify(answer.body) };
}

describe('repeated headers, in process (no raw header list: the joined value)', () => {
  // The original (Starlette) read the FIRST value of a repeated header; so does the service over a
  // socket (section e). In process there is no raw header list: fetch's `Headers` joins repeats as
  // `a, b` (a valid tenant id of its own: 200 for tenant "a, b"; `free` twice is `free, free`: 422
  // enum; two Authorization headers are four parts: 401 malformed), and that is what the service
  // sees (README: "in-process `app.request` only has the joined `a, b`").
  it('are answered exactly as the contract says for the joined value, never 500', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(validTenant, headerValueOfLength(0, 30)), { minLength: 2, maxLength: 3 }),
        fc.array(fc.oneof(fc.constantFrom(...PLANS), headerValueOfLength(0, 12)), { maxLength: 3 }),
        async (tenants, plans) => {
          const list: HeaderList = [['authorization', `Bearer ${token}`]];
          for (const tenant of tenants) list.push(['tenant-id', tenant]);
          for (const plan of plans) list.push(['x-plan-type', plan]);
          const res = await limits(h.app, list);
          expect({ status: res.status, text: await res.text() }).toEqual(
            expectedRepeated('joined', tenants, plans),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each([
    ['twice the token (four parts: malformed)', () => [`Bearer ${token}`, `Bearer ${token}`]],
    ['the token, then an empty value (`<token>,` is its own token)', () => [`Bearer ${token}`, '']],
    ['an empty value, then the token (three parts: malformed)', () => ['', `Bearer ${token}`]],
  ])('a repeated Authorization header is read joined: %s', async (_, values) => {
    const authorizations = values();
    const res = await limits(h.app, [
      ['tenant-id', 'org-1'],
      ...authorizations.map((value): [string, string] => ['authorization', value]),
    ]);
    const expected = expectedRepeated('joined', ['org-1'], [], authorizations);
    expect(expected.status).toBe(401);
    expect({ status: res.status, text: await res.text() }).toEqual(expected);
  });
});

// --- d. database mode ----------------------------------------------------------------------------

describe('database mode (PGlite): valid tenant ids that do not exist', () => {
  const withDatabase = useHarness({ store: 'pglite' });

  it('are 404 {"detail":"Tenant not found"}, never 500', async () => {
    await fc.assert(
      fc.asyncProperty(
        validTenant.filter((tenant) => httpTrim(tenant) !== ''),
        fc.option(fc.constantFrom(...PLANS), { nil: undefined }),
        async (tenant, plan) => {
          const list: HeaderList = [
            ['authorization', `Bearer ${token}`],
            ['tenant-id', tenant],
          ];
          if (plan !== undefined) list.push(['x-plan-type', plan]);
          const res = await limits(withDatabase.app, list);
          await expectAnswer(res, { status: 404, body: { detail: 'Tenant not found' } });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('reach every id the admin API accepts with its UTF-8 bytes in tenant-id', async () => {
    const admin = await withDatabase.adminToken();
    await fc.assert(
      fc.asyncProperty(unicodeText, async (id) => {
        const put = await withDatabase.request(`/admin/tenants/${encodeURIComponent(id)}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${admin}` },
          body: JSON.stringify({ plan_id: 'growth' }),
        });
        if (id === '.' || id === '..') {
          // A dot segment, even percent-encoded, is resolved away by URL parsing (WHATWG URL):
          // the path names no tenant, and no route matches.
          await expectAnswer(put, { status: 404, body: { detail: 'Not Found' } });
          return;
        }
        if (put.status !== 200) {
          // Refused by the contract: too long, a control character, or padding HTTP would strip.
          expect(put.status).toBe(422);
          return;
        }
        const { tenant_id: created } = (await put.json()) as { tenant_id: string };
        expect(created).toBe(id);
        const res = await limits(withDatabase.app, [
          ['authorization', `Bearer ${token}`],
          ['tenant-id', utf8Bytes(created)],
        ]);
        await expectAnswer(res, {
          status: 200,
          body: {
            tenant_id: created,
            limits: { deployments: 5, self_hosted_workers: null, plan_type: 'growth' },
          },
        });
      }),
      { numRuns: 100, examples: [['.'], ['..'], ['%2e']] },
    );
  });
});

// --- e. a real socket ----------------------------------------------------------------------------

interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Writes raw bytes on a fresh connection and reads until the server closes it. */
function rawExchange(port: number, bytes: Buffer, timeoutMs = 5_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms; got: ${Buffer.concat(chunks).toString('latin1')}`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.on('error', () => {}); // a reset after the answer (431) is fine
    socket.write(bytes);
  });
}

function parseRawResponse(raw: Buffer): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end === -1 ? raw.length : end).toString('latin1');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? Number.NaN);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  let body = end === -1 ? Buffer.alloc(0) : raw.subarray(end + 4);
  if (headers.get('transfer-encoding') === 'chunked') {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = body.indexOf('\r\n', at);
      const size = Number.parseInt(body.subarray(at, lineEnd).toString('latin1'), 16);
      if (!size) break;
      parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  }
  return { status, headers, body: body.toString('utf8') };
}

const rawRequest = (headerLines: string[]): Buffer =>
  Buffer.from(
    ['GET /billing/limits HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close', ...headerLines, '', ''].join(
      '\r\n',
    ),
    'latin1',
  );

describe('over a real socket, with header bytes fetch cannot send', () => {
  const MAX_HEADER_BYTES = 16_384;
  let server: DrainableServer;
  beforeAll(async () => {
    server = await listen(h.app.fetch, {
      port: 0,
      hostname: '127.0.0.1',
      maxHeaderBytes: MAX_HEADER_BYTES,
    });
  });
  afterAll(async () => {
    await server?.close(1_000);
  });

  const send = async (headerLines: string[]) =>
    parseRawResponse(await rawExchange(server.address.port, rawRequest(headerLines)));

  const expectRaw = (res: RawResponse, expected: LimitsAnswer | { status: number; body: unknown }) => {
    expect({ status: res.status, body: res.body }).toEqual({
      status: expected.status,
      body: JSON.stringify(expected.body),
    });
  };

  it('answers raw latin-1 bytes, empty values, repeated (first wins) and 10 KB headers as the contract says', async () => {
    const auth = `Authorization: Bearer ${token}`;

    // bytes 0x80–0xFF in a header line: latin-1 characters of the tenant id
    const latin1 = 'org-\u0080\u00a0\u00e9\u00ff';
    expectRaw(await send([auth, `tenant-id: ${latin1}`]), expectedLimitsAnswer(latin1, undefined));

    // bytes that are valid UTF-8 are read as UTF-8; one invalid sequence makes the whole value Latin-1
    const unicode = 'org-ü-日本-🚀';
    expectRaw(
      await send([auth, `tenant-id: ${utf8Bytes(unicode)}`]),
      expectedLimitsAnswer(unicode, undefined),
    );
    const broken = `${utf8Bytes('org-ü')}\u00c3`; // a lead byte with nothing after it
    expectRaw(await send([auth, `tenant-id: ${broken}`]), expectedLimitsAnswer(broken, undefined));
    const plan = utf8Bytes('frée');
    expectRaw(
      await send([auth, 'tenant-id: org-1', `x-plan-type: ${plan}`]),
      expectedLimitsAnswer('org-1', 'frée'),
    );

    // an empty value is a present, empty tenant-id (string_too_short), not a missing one
    expectRaw(await send([auth, 'tenant-id:']), expectedLimitsAnswer('', undefined));
    expectRaw(await send([auth, 'tenant-id: org-1', 'x-plan-type:   ']), expectedLimitsAnswer('org-1', ''));

    // a repeated header: the first value counts, as Starlette's Headers.get read it
    const abc = await send([auth, 'tenant-id: a', 'tenant-id: b', 'tenant-id: c']);
    expectRaw(abc, expectedLimitsAnswer('a', undefined));
    const plans = await send([auth, 'tenant-id: org-1', 'x-plan-type: growth', 'x-plan-type: pro']);
    expectRaw(plans, expectedLimitsAnswer('org-1', 'growth'));
    const badFirst = await send([auth, 'tenant-id: a\tb', 'tenant-id: org-1']);
    expectRaw(badFirst, expectedLimitsAnswer('a\tb', undefined));
    const thrice = await send(['tenant-id: org-1', ...[1, 2, 3].map(() => `Authorization: Bearer ${token}`)]);
    expectRaw(thrice, expectedLimitsAnswer('org-1', undefined));
    const tokenFirst = await send(['tenant-id: org-1', auth, 'Authorization: Basic abc']);
    expectRaw(tokenFirst, expectedLimitsAnswer('org-1', undefined));
    const basicFirst = await send(['tenant-id: org-1', 'Authorization: Basic abc', auth]);
    expectRaw(basicFirst, { status: 401, body: { detail: MALFORMED_AUTHORIZATION } });
    expect(basicFirst.headers.get('www-authenticate')).toBe('Bearer');
    const emptyFirst = await send(['tenant-id: org-1', 'Authorization:', auth]);
    expectRaw(emptyFirst, { status: 401, body: { detail: MISSING_AUTHORIZATION } });

    // a 10 KB header under the cap is served; a 20 KB one is a 431 `Request header fields too large`
    const tenKb = `org-${'k'.repeat(10_240)}`;
    expectRaw(await send([auth, `tenant-id: ${tenKb}`]), expectedLimitsAnswer(tenKb, undefined));
    expectRaw(
      await send([auth, 'tenant-id: org-1', `x-padding: ${'p'.repeat(10_240)}`]),
      expectedLimitsAnswer('org-1', undefined),
    );
    const tooBig = await send([auth, 'tenant-id: org-1', `x-padding: ${'p'.repeat(2 * MAX_HEADER_BYTES)}`]);
    expect(tooBig.status).toBe(431);

    // Bytes HTTP does not allow in a value (CTLs, DEL) never reach the app: a 400 `Invalid HTTP request`.
    for (const ctl of ['\u0001', '\u007f']) {
      const refused = await send([auth, `tenant-id: a${ctl}b`]);
      expect(refused.status).toBe(400);
    }

    // the server still answers a normal request
    const after = await fetch(`${server.origin}/billing/limits`, {
      headers: { authorization: `Bearer ${token}`, 'tenant-id': 'org-1', 'x-plan-type': 'growth' },
    });
    expect(after.status).toBe(200);
    expect(await after.text()).toBe(JSON.stringify(expectedLimitsAnswer('org-1', 'growth').body));
  });

  it('answers random raw header bytes, repeated or not, exactly as the contract says (first value wins), never 500', async () => {
    const rawValue = fc.string({ unit: headerChar, maxLength: 300 });
    await fc.assert(
      fc.asyncProperty(
        fc.array(rawValue, { minLength: 0, maxLength: 3 }),
        fc.array(rawValue, { minLength: 0, maxLength: 2 }),
        fc.boolean(),
        async (tenants, plans, withToken) => {
          const lines = tenants.map((tenant) => `tenant-id:${tenant}`);
          for (const plan of plans) lines.push(`x-plan-type:${plan}`);
          if (withToken) lines.push(`Authorization: Bearer ${token}`);
          const res = await send(lines);
          if (!withToken) {
            expect(res.status).toBe(401);
            expect(JSON.parse(res.body)).toEqual({ detail: MISSING_AUTHORIZATION });
            return;
          }
          expect({ status: res.status, text: res.body }).toEqual(expectedRepeated('first', tenants, plans));
        },
      ),
      { numRuns: 100 },
    );
    const after = await send([`Authorization: Bearer ${token}`, 'tenant-id: org-1']);
    expectRaw(after, expectedLimitsAnswer('org-1', undefined));
  });
});
