/**
 * `Limits store unavailable` (503) means the store could not be reached — worth a retry. An error
 * the database answered a statement with is a fault of ours: it goes on as it is (a 500, logged).
 */
import { DrizzleQueryError } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../../src/domain/errors.js';
import { createUsageService } from '../../../src/domain/usage/usage.js';
import type { UsageStore } from '../../../src/domain/usage/usage-store.js';

/** An error as PostgreSQL reports it (postgres.js's PostgresError, PGlite's DatabaseError): SQLSTATE and severity. */
function databaseError(code: string, message: string, severity = 'ERROR') {
  return Object.assign(new Error(message), { code, severity });
}

/** As drizzle hands it on: the driver's error as the cause of a "Failed query". */
const failedQuery = (cause: Error) => new DrizzleQueryError('select 1', [], cause);

/** A driver's own error: no SQLSTATE, a code of its own. */
const driverError = (code: string, message: string) => Object.assign(new Error(message), { code });

function failingStore(error: unknown): UsageStore {
  const fail = () => Promise.reject(error);
  return {
    usage: fail,
    reserve: fail,
    release: fail,
    renew: fail,
    expireLeases: fail,
    listReservations: fail,
    entitlements: fail,
    nearLimits: fail,
    setUsage: fail,
  };
}

async function failureOf(error: unknown): Promise<unknown> {
  const service = createUsageService(failingStore(error), {
    catalog: { listPlans: () => Promise.reject(error) },
  });
  try {
    await service.reserve('org-1', { resource: 'deployments', quantity: 1, idempotency_key: 'k' });
  } catch (failure) {
    return failure;
  }
  throw new Error('the reservation did not fail');
}

describe('a store failure', () => {
  it.each([
    ['a refused connection (Node)', driverError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')],
    [
      'a connection closed under a query (postgres.js)',
      failedQuery(driverError('CONNECTION_CLOSED', 'closed')),
    ],
    ['a connect timeout (postgres.js)', driverError('CONNECT_TIMEOUT', 'write CONNECT_TIMEOUT')],
    ['an error without a code', new Error('connect ECONNREFUSED 127.0.0.1:5432')],
    [
      'a connection failure (SQLSTATE 08006)',
      failedQuery(databaseError('08006', 'connection failure', 'FATAL')),
    ],
    [
      'a terminated backend (57P01)',
      failedQuery(databaseError('57P01', 'terminating connection due to administrator command', 'FATAL')),
    ],
    ['a server starting up (57P03)', databaseError('57P03', 'the database system is starting up', 'FATAL')],
    ['too many connections (53300)', databaseError('53300', 'sorry, too many clients already', 'FATAL')],
  ])('is "Limits store unavailable" when it is %s', async (_, error) => {
    const failure = await failureOf(error);
    expect(failure).toBeInstanceOf(DomainError);
    expect(failure).toMatchObject({
      code: 'store_unavailable',
      message: 'Limits store unavailable',
      cause: error,
    });
  });

  it.each([
    ['an integer out of range (22003)', failedQuery(databaseError('22003', 'integer out of range'))],
    [
      'a raised exception (22023)',
      failedQuery(databaseError('22023', 'billing_reserve: malformed soft limit')),
    ],
    ['a unique violation (23505)', databaseError('23505', 'duplicate key value violates unique constraint')],
    ['a missing function (42883)', databaseError('42883', 'function billing_reserve does not exist')],
    ['a bug of ours (TypeError)', new TypeError('Cannot read properties of undefined')],
    ['a wrapped bug of ours', failedQuery(new TypeError('x is not a function'))],
  ])('goes on as it is (a 500) when it is %s', async (_, error) => {
    expect(await failureOf(error)).toBe(error);
  });
});
