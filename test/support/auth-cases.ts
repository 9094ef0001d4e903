/**
 * The ways a request can fail authentication, each with the exact sentence the original answered,
 * and the protected surface they are run against: every REST route and every tRPC procedure,
 * derived from the router (`restRoutesOf`, `proceduresOf`) so that a new one is covered as soon as
 * it exists. `test/http/auth.security.test.ts` runs them all.
 */
import { proceduresOf } from '../../src/api/procedures.js';
import { LIMITS_CHANGES_PATH } from '../../src/http/limits-changes-route.js';
import { restRoutesOf } from '../../src/http/rest-routes.js';
import { ADMIN_SECRET, adminToken, engineToken, engineTokenWithout, sign, trpcPath } from './harness.js';

export interface AuthCase {
  name: string;
  /** The full `Authorization` header, or undefined for none. */
  authorization: () => Promise<string | undefined>;
  detail: string;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
const bearer = (token: () => Promise<string> | string) => async () => `Bearer ${await token()}`;
const ANOTHER_SECRET = 'another-secret-entirely-000000000';

/** Missing or malformed headers and tokens that are not JWTs: refused alike on every route. */
function headerCases(validToken: () => Promise<string>): AuthCase[] {
  return [
    {
      name: 'no Authorization header',
      authorization: async () => undefined,
      detail: 'Missing authorization header',
    },
    {
      name: 'an empty Authorization header',
      authorization: async () => '',
      detail: 'Missing authorization header',
    },
    {
      name: 'a scheme without a token',
      authorization: async () => 'Bearer',
      detail: "Invalid authorization header format. Expected 'Bearer <token>'",
    },
    {
      name: 'three parts',
      authorization: async () => `Bearer ${await validToken()} extra`,
      detail: "Invalid authorization header format. Expected 'Bearer <token>'",
    },
    {
      name: 'another scheme',
      authorization: async () => `Basic ${await validToken()}`,
      detail: "Invalid authorization header format. Expected 'Bearer <token>'",
    },
    {
      name: 'one segment',
      authorization: bearer(() => 'abc'),
      detail: 'Invalid token. Error: Not enough segments',
    },
    {
      name: 'two segments',
      authorization: bearer(() => 'abc.def'),
      detail: 'Invalid token. Error: Not enough segments',
    },
    {
      name: 'a header segment that is not base64url',
      authorization: bearer(() => 'abcde.e30.c2ln'),
      detail: 'Invalid token. Error: Invalid header padding',
    },
  ];
}

/**
 * Every way a worker-token request can fail, with the exact sentence the original answered.
 * Each worker route runs all of them (REST and tRPC).
 */
export const WORKER_AUTH_CASES: AuthCase[] = [
  ...headerCases(() => engineToken()),
  {
    name: 'the wrong secret',
    authorization: bearer(() => sign({ ver: '1', aud: 'worker' }, { secret: ANOTHER_SECRET })),
    detail: 'Invalid token. Error: Signature verification failed',
  },
  {
    name: 'a tampered payload',
    authorization: async () => {
      const [header, , signature] = (await engineToken()).split('.');
      return `Bearer ${header}.${b64({ ver: '1', aud: 'worker', admin: true })}.${signature}`;
    },
    detail: 'Invalid token. Error: Signature verification failed',
  },
  {
    name: 'an expired token',
    authorization: bearer(() => engineToken({ iat: now() - 7200, exp: now() - 60 })),
    detail: 'Invalid token. Error: Signature has expired',
  },
  {
    name: 'another audience',
    authorization: bearer(() => engineToken({ aud: 'engine' })),
    detail: "Invalid token. Error: Audience doesn't match",
  },
  {
    name: 'an audience list without worker',
    authorization: bearer(() => engineToken({ aud: ['engine', 'billing'] })),
    detail: "Invalid token. Error: Audience doesn't match",
  },
  {
    name: 'no audience',
    authorization: bearer(() => engineTokenWithout('aud')),
    detail: 'Invalid token. Error: Token is missing the "aud" claim',
  },
  {
    name: 'nbf in the future',
    authorization: bearer(() => engineToken({ nbf: now() + 3600 })),
    detail: 'Invalid token. Error: The token is not yet valid (nbf)',
  },
  {
    name: 'iat in the future',
    authorization: bearer(() => engineToken({ iat: now() + 3600 })),
    detail: 'Invalid token. Error: The token is not yet valid (iat)',
  },
  {
    name: 'version "2"',
    authorization: bearer(() => engineToken({ ver: '2' })),
    detail: 'Invalid token. Error: Unsupported token version: 2',
  },
  {
    name: 'no version',
    authorization: bearer(() => engineTokenWithout('ver')),
    detail: 'Invalid token. Error: Unsupported token version: None',
  },
  {
    name: 'version as the number 1',
    authorization: bearer(() => engineToken({ ver: 1 })),
    detail: 'Invalid token. Error: Unsupported token version: 1',
  },
  {
    name: 'alg none',
    authorization: async () =>
      `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ver: '1', aud: 'worker', exp: now() + 3600 })}.`,
    detail: 'Invalid token. Error: The specified alg value is not allowed',
  },
  {
    name: 'HS512 with the right secret',
    authorization: bearer(() => sign({ ver: '1', aud: 'worker' }, { alg: 'HS512' })),
    detail: 'Invalid token. Error: The specified alg value is not allowed',
  },
  {
    // Signed with the worker secret, so that its audience alone refuses it (as when one secret signs both).
    name: 'an admin token',
    authorization: bearer(() => sign({ aud: 'billing-admin', sub: 'alice' })),
    detail: "Invalid token. Error: Audience doesn't match",
  },
];

/** An admin token's claims, with `overrides`, signed with the admin secret unless told otherwise. */
const operatorToken = (
  overrides: Record<string, unknown> = {},
  options: { alg?: string; secret?: string } = {},
) =>
  sign(
    { aud: 'billing-admin', sub: 'alice', iat: now(), exp: now() + 3600, ...overrides },
    { secret: ADMIN_SECRET, ...options },
  );

/** Every way an admin-token request can fail. Each admin route runs all of them (REST and tRPC). */
export const ADMIN_AUTH_CASES: AuthCase[] = [
  ...headerCases(() => adminToken()),
  {
    name: 'the wrong secret',
    authorization: bearer(() => operatorToken({}, { secret: ANOTHER_SECRET })),
    detail: 'Invalid token. Error: Signature verification failed',
  },
  {
    name: 'a tampered payload',
    authorization: async () => {
      const [header, , signature] = (await adminToken()).split('.');
      return `Bearer ${header}.${b64({ aud: 'billing-admin', sub: 'mallory' })}.${signature}`;
    },
    detail: 'Invalid token. Error: Signature verification failed',
  },
  {
    name: 'an expired token',
    authorization: bearer(() => operatorToken({ iat: now() - 7200, exp: now() - 60 })),
    detail: 'Invalid token. Error: Signature has expired',
  },
  {
    name: 'the worker audience, signed with the admin secret',
    authorization: bearer(() => operatorToken({ aud: 'worker', ver: '1' })),
    detail: "Invalid token. Error: Audience doesn't match",
  },
  {
    name: 'no audience',
    authorization: bearer(() => operatorToken({ aud: undefined })),
    detail: 'Invalid token. Error: Token is missing the "aud" claim',
  },
  {
    name: 'nbf in the future',
    authorization: bearer(() => operatorToken({ nbf: now() + 3600 })),
    detail: 'Invalid token. Error: The token is not yet valid (nbf)',
  },
  {
    name: 'iat in the future',
    authorization: bearer(() => operatorToken({ iat: now() + 3600 })),
    detail: 'Invalid token. Error: The token is not yet valid (iat)',
  },
  {
    name: 'alg none',
    authorization: async () =>
      `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ aud: 'billing-admin', sub: 'alice' })}.`,
    detail: 'Invalid token. Error: The specified alg value is not allowed',
  },
  {
    name: 'HS512 with the right secret',
    authorization: bearer(() => operatorToken({}, { alg: 'HS512' })),
    detail: 'Invalid token. Error: The specified alg value is not allowed',
  },
  {
    name: 'a worker token',
    authorization: bearer(() => engineToken()),
    detail: 'Invalid token. Error: Signature verification failed',
  },
];

// ---- the protected surface ------------------------------------------------------------------------

/** One protected entry point and how to call it with a given `Authorization` header. */
export interface ProtectedEndpoint {
  /** e.g. `GET /billing/limits` or `tRPC billing.limits (query)`. */
  name: string;
  /** The procedure behind it, e.g. `billing.limits`. */
  procedure: string;
  admin: boolean;
  /**
   * A tRPC subscription: answered 200 with an event stream whatever its credentials, and refused
   * inside it (tRPC's `serialized-error` event) — see `streamedTrpcError`.
   */
  subscription?: true;
  /** The request: otherwise well-formed, so that only its credentials can be what is refused. */
  request(authorization: string | undefined): { path: string; init: RequestInit };
}

/** The error a tRPC subscription's stream carries (its `serialized-error` event), as `/trpc` shapes errors. */
export async function streamedTrpcError(res: Response): Promise<unknown> {
  const text = await res.text();
  const event = text
    .split('\n\n')
    .map((block) => block.trim())
    .find((block) => block.startsWith('event: serialized-error\n'));
  if (!event) throw new Error(`no serialized-error event in the stream: ${text}`);
  const data = event.split('\n').find((line) => line.startsWith('data: '));
  return { error: JSON.parse(data?.slice('data: '.length) ?? 'null') as unknown };
}

/** A plausible value for each path parameter and header-bound input field the routes declare. */
const SAMPLE_VALUES: Readonly<Record<string, string>> = {
  tenantId: 'org-auth-cases',
  planId: 'free',
  reservationId: '00000000-0000-4000-8000-000000000000',
  eventId: 'evt-auth-cases',
  planType: 'free',
  endpointId: '00000000-0000-4000-8000-000000000001',
  deliveryId: '00000000-0000-4000-8000-000000000002',
};

function sampleOf(field: string, route: string): string {
  const value = SAMPLE_VALUES[field];
  if (value === undefined) throw new Error(`${route}: no sample value for "${field}" in SAMPLE_VALUES`);
  return value;
}

function headersWith(authorization: string | undefined, headers: Record<string, string>): Headers {
  const all = new Headers(headers);
  if (authorization !== undefined) all.set('authorization', authorization);
  return all;
}

/**
 * Every REST route (`restRoutesOf`), and the change stream beside them (a subscription's route,
 * mounted by hand): `meta.admin` tells the admin ones.
 */
export function restEndpoints(): ProtectedEndpoint[] {
  const stream: ProtectedEndpoint = {
    name: `GET ${LIMITS_CHANGES_PATH}`,
    procedure: 'billing.limitsChanges',
    admin: false,
    request: (authorization) => ({
      path: LIMITS_CHANGES_PATH,
      init: { headers: headersWith(authorization, {}) },
    }),
  };
  return [...restRoutesOf().map(restEndpointOf), stream];
}

function restEndpointOf({
  method,
  path,
  procedure,
  meta,
}: ReturnType<typeof restRoutesOf>[number]): ProtectedEndpoint {
  const name = `${method} ${path}`;
  const concretePath = path.replace(/\{(\w+)\}/g, (_, field: string) =>
    encodeURIComponent(sampleOf(field, name)),
  );
  const headers: Record<string, string> = {};
  for (const [field, header] of Object.entries(meta.inputHeaders ?? {}))
    headers[header] = sampleOf(field, name);
  const readsBody = method === 'POST' || method === 'PUT' || method === 'PATCH';
  if (readsBody) headers['content-type'] = 'application/json';
  return {
    name,
    procedure: procedure.path,
    admin: meta.admin === true,
    request: (authorization) => ({
      path: concretePath,
      init: { method, headers: headersWith(authorization, headers), ...(readsBody ? { body: '{}' } : {}) },
    }),
  };
}

/** Every procedure over `/trpc`: queries and subscriptions as a GET with `?input=`, mutations as a POST with a JSON body. */
export function trpcEndpoints(): ProtectedEndpoint[] {
  return proceduresOf().map(({ path, type, meta }) => {
    const input = { tenantId: SAMPLE_VALUES['tenantId'] };
    const query = type === 'query' || type === 'subscription';
    return {
      name: `tRPC ${path} (${type})`,
      procedure: path,
      admin: meta?.admin === true,
      ...(type === 'subscription' ? { subscription: true as const } : {}),
      request: (authorization) =>
        query
          ? { path: trpcPath(path, input), init: { headers: headersWith(authorization, {}) } }
          : {
              path: trpcPath(path),
              init: {
                method: 'POST',
                headers: headersWith(authorization, { 'content-type': 'application/json' }),
                body: JSON.stringify(input),
              },
            },
    };
  });
}
