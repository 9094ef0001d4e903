import { SignJWT } from 'jose';

/** The worker secret every security test signs with; the service under test is given the same. */
export const SECRET = 'security-test-worker-secret-0123456789abcdef';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

export function sign(claims: Record<string, unknown>, options: { alg?: string; secret?: string } = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(options.secret ?? SECRET));
}

/** A token as the Engine mints it (the original README's Python example). */
export const engineToken = (overrides: Record<string, unknown> = {}) =>
  sign({ ver: '1', aud: 'worker', iat: now(), exp: now() + 3600, ...overrides });

/** Drops claims from a valid Engine token. */
export const engineTokenWithout = (...claims: string[]) => {
  const payload: Record<string, unknown> = { ver: '1', aud: 'worker', iat: now(), exp: now() + 3600 };
  for (const claim of claims) delete payload[claim];
  return sign(payload);
};

export interface AuthCase {
  name: string;
  /** The full `Authorization` header, or undefined for none. */
  authorization: () => Promise<string | undefined>;
  detail: string;
}

const bearer = (token: Promise<string> | string) => async () => `Bearer ${await token}`;

/**
 * Every way a worker-token request can fail, with the exact sentence the original answered.
 * Each protected worker route runs all of them (REST and tRPC).
 */
export const WORKER_AUTH_CASES: AuthCase[] = [
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
    authorization: async () => `Bearer ${await engineToken()} extra`,
    detail: "Invalid authorization header format. Expected 'Bearer <token>'",
  },
  {
    name: 'another scheme',
    authorization: async () => `Basic ${await engineToken()}`,
    detail: "Invalid authorization header format. Expected 'Bearer <token>'",
  },
  { name: 'one segment', authorization: bearer('abc'), detail: 'Invalid token. Error: Not enough segments' },
  {
    name: 'two segments',
    authorization: bearer('abc.def'),
    detail: 'Invalid token. Error: Not enough segments',
  },
  {
    name: 'a header segment that is not base64url',
    authorization: bearer('abcde.e30.c2ln'),
    detail: 'Invalid token. Error: Invalid header padding',
  },
  {
    name: 'the wrong secret',
    authorization: async () =>
      `Bearer ${await sign({ ver: '1', aud: 'worker' }, { secret: 'another-secret-entirely-000000000' })}`,
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
    authorization: bearer(engineToken({ iat: now() - 7200, exp: now() - 60 })),
    detail: 'Invalid token. Error: Signature has expired',
  },
  {
    name: 'another audience',
    authorization: bearer(engineToken({ aud: 'engine' })),
    detail: "Invalid token. Error: Audience doesn't match",
  },
  {
    name: 'an audience list without worker',
    authorization: bearer(engineToken({ aud: ['engine', 'billing'] })),
    detail: "Invalid token. Error: Audience doesn't match",
  },
  {
    name: 'no audience',
    authorization: bearer(engineTokenWithout('aud')),
    detail: 'Invalid token. Error: Token is missing the "aud" claim',
  },
  {
    name: 'nbf in the future',
    authorization: bearer(engineToken({ nbf: now() + 3600 })),
    detail: 'Invalid token. Error: The token is not yet valid (nbf)',
  },
  {
    name: 'iat in the future',
    authorization: bearer(engineToken({ iat: now() + 3600 })),
    detail: 'Invalid token. Error: The token is not yet valid (iat)',
  },
  {
    name: 'version "2"',
    authorization: bearer(engineToken({ ver: '2' })),
    detail: 'Invalid token. Error: Unsupported token version: 2',
  },
  {
    name: 'no version',
    authorization: bearer(engineTokenWithout('ver')),
    detail: 'Invalid token. Error: Unsupported token version: None',
  },
  {
    name: 'version as the number 1',
    authorization: bearer(engineToken({ ver: 1 })),
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
    authorization: async () => `Bearer ${await sign({ ver: '1', aud: 'worker' }, { alg: 'HS512' })}`,
    detail: 'Invalid token. Error: The specified alg value is not allowed',
  },
  {
    name: 'an admin token',
    authorization: bearer(sign({ aud: 'billing-admin', sub: 'alice' })),
    detail: "Invalid token. Error: Audience doesn't match",
  },
];
