import { TRPCError } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  domainErrorOf,
  domainStatusOf,
  failureStatusOf,
  toFastApiFailure,
  trpcFailureOf,
} from '../../src/api/errors.js';
import { AuthenticationError } from '../../src/auth/errors.js';
import { DomainError, type DomainErrorCode } from '../../src/domain/errors.js';

/** Where a field arrived: the REST adapter's would say `["query", …]`. */
const locate = (path: readonly PropertyKey[]) => ['body', ...path.map(String)];

/** Every domain failure: its REST status and body (bearer challenge: never), and its tRPC code. */
const DOMAIN_FAILURES: [DomainErrorCode, Record<string, unknown>, number, unknown, string][] = [
  ['tenant_not_found', {}, 404, 'the message', 'NOT_FOUND'],
  ['reservation_not_found', {}, 404, 'the message', 'NOT_FOUND'],
  ['webhook_event_not_found', {}, 404, 'the message', 'NOT_FOUND'],
  ['store_unavailable', {}, 503, 'the message', 'SERVICE_UNAVAILABLE'],
  ['deadline_exceeded', {}, 503, 'the message', 'TIMEOUT'],
  [
    'limit_exceeded',
    { resource: 'deployments', limit: 3, used: 3 },
    409,
    { code: 'limit_exceeded', resource: 'deployments', limit: 3, used: 3 },
    'CONFLICT',
  ],
  ['orb_plan_already_mapped', {}, 409, 'the message', 'CONFLICT'],
  ['not_leased', {}, 409, { code: 'not_leased' }, 'CONFLICT'],
  ['reservation_expired', {}, 409, { code: 'reservation_expired' }, 'CONFLICT'],
  ['reservation_released', {}, 409, { code: 'reservation_released' }, 'CONFLICT'],
  [
    'idempotency_key_reused',
    { idempotency_key: 'key-1' },
    422,
    [
      {
        type: 'idempotency_key_reused',
        loc: ['body', 'idempotency_key'],
        msg: 'the message',
        input: 'key-1',
      },
    ],
    'UNPROCESSABLE_CONTENT',
  ],
  [
    'plan_required',
    {},
    422,
    [{ type: 'missing', loc: ['body', 'plan_id'], msg: 'Field required', input: null }],
    'UNPROCESSABLE_CONTENT',
  ],
];

describe('toFastApiFailure: an error as the original service answered it', () => {
  it.each(DOMAIN_FAILURES)('%s → %#', (code, facts, status, detail, trpcCode) => {
    const error = new DomainError(code, 'the message', { facts });
    const expected = { status, detail, bearerChallenge: false };
    expect(toFastApiFailure(error, undefined, locate)).toStrictEqual(expected);
    // The same when tRPC wrapped it, as it wraps whatever a procedure throws.
    const wrapped = new TRPCError({ code: 'INTERNAL_SERVER_ERROR', cause: error });
    expect(toFastApiFailure(wrapped, undefined, locate)).toStrictEqual(expected);
    expect(domainErrorOf(wrapped)).toBe(error);
    expect(trpcFailureOf(wrapped)).toStrictEqual({ code: trpcCode, httpStatus: status });
    expect(domainStatusOf(error)).toBe(status);
    expect(failureStatusOf(wrapped)).toBe(status);
  });

  it('answers idempotency_key_reused without the key as null input', () => {
    const error = new DomainError('idempotency_key_reused', 'reused');
    expect(toFastApiFailure(error, undefined, locate).detail).toStrictEqual([
      { type: 'idempotency_key_reused', loc: ['body', 'idempotency_key'], msg: 'reused', input: null },
    ]);
  });

  it('answers a failed authentication 401 with its sentence, challenging for a bearer token', () => {
    const error = new AuthenticationError('Not authenticated');
    const expected = { status: 401, detail: 'Not authenticated', bearerChallenge: true };
    expect(toFastApiFailure(error, undefined, locate)).toStrictEqual(expected);
    expect(
      toFastApiFailure(new TRPCError({ code: 'UNAUTHORIZED', cause: error }), undefined, locate),
    ).toStrictEqual(expected);
  });

  it('answers a failed input parse 422 with pydantic’s entries, located by the adapter', () => {
    const parsed = z.object({ tenant_id: z.string() }).safeParse({});
    const error = new TRPCError({ code: 'BAD_REQUEST', cause: parsed.error });
    expect(toFastApiFailure(error, {}, locate)).toStrictEqual({
      status: 422,
      detail: [{ type: 'missing', loc: ['body', 'tenant_id'], msg: 'Field required', input: null }],
      bearerChallenge: false,
    });
  });

  it('answers a tRPC client error without zod issues with its own status and message', () => {
    const badRequest = new TRPCError({ code: 'BAD_REQUEST', message: 'Unexpected end of JSON input' });
    expect(toFastApiFailure(badRequest, undefined, locate)).toStrictEqual({
      status: 400,
      detail: 'Unexpected end of JSON input',
      bearerChallenge: false,
    });
    // `issues` that are not a list are not zod's.
    const odd = new TRPCError({
      code: 'BAD_REQUEST',
      message: 'odd',
      cause: Object.assign(new Error('x'), { issues: 'no' }),
    });
    expect(toFastApiFailure(odd, undefined, locate)).toStrictEqual({
      status: 400,
      detail: 'odd',
      bearerChallenge: false,
    });
    expect(
      toFastApiFailure(new TRPCError({ code: 'NOT_FOUND', message: 'Not Found' }), undefined, locate),
    ).toStrictEqual({
      status: 404,
      detail: 'Not Found',
      bearerChallenge: false,
    });
  });

  it.each([
    ['a plain Error', new Error('connect ECONNREFUSED 10.0.0.7:5432')],
    ['a thrown string', 'secret-ish'],
    ['a tRPC 500', new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'db password is hunter2' })],
    ['a tRPC 503 of its own', new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'pool exhausted' })],
  ])('answers %s 500 "Internal Server Error", saying nothing of the cause', (_, error) => {
    expect(toFastApiFailure(error, undefined, locate)).toStrictEqual({
      status: 500,
      detail: 'Internal Server Error',
      bearerChallenge: false,
    });
    expect(failureStatusOf(error)).toBe(500);
    expect(trpcFailureOf(error)).toBeUndefined();
    expect(domainStatusOf(error)).toBeUndefined();
    expect(domainErrorOf(error)).toBeUndefined();
  });
});
