import { REQUEST_TIMED_OUT } from './deadline.js';

/**
 * The closed set of failures the domain reports as values a caller can act on. `src/api/errors.ts`
 * maps each code to a status and body, in one switch.
 */
export type DomainErrorCode =
  | 'tenant_not_found'
  | 'store_unavailable'
  | 'deadline_exceeded'
  | 'plan_required'
  | 'limit_exceeded'
  | 'idempotency_key_reused'
  | 'orb_plan_already_mapped'
  | 'webhook_event_not_found'
  | 'reservation_not_found'
  /** A renewal refused (409 `{"detail": {"code": …}}`): the reservation cannot hold longer. */
  | 'not_leased'
  | 'reservation_expired'
  | 'reservation_released'
  | 'webhook_endpoint_not_found'
  | 'webhook_delivery_not_found'
  | 'webhook_endpoint_disabled'
  /** An outbound webhook URL refused (a 422 on `url`): `facts.problem` says why. */
  | 'webhook_url_refused';

export class DomainError extends Error {
  override readonly name = 'DomainError';
  /** Facts the caller gets in the body (e.g. the limit that was hit). */
  readonly facts: Readonly<Record<string, unknown>>;

  constructor(
    readonly code: DomainErrorCode,
    message: string,
    options?: ErrorOptions & { facts?: Record<string, unknown> },
  ) {
    super(message, options);
    this.facts = options?.facts ?? {};
  }
}

export const tenantNotFound = () => new DomainError('tenant_not_found', 'Tenant not found');

/** One Orb plan id maps to at most one catalog plan: `planId` has it already. */
export const orbPlanAlreadyMapped = (planId: string) =>
  new DomainError('orb_plan_already_mapped', `Orb plan id already mapped to ${planId}`, {
    facts: { planId },
  });

export const webhookEventNotFound = () =>
  new DomainError('webhook_event_not_found', 'Webhook event not found');

export const webhookEndpointNotFound = () =>
  new DomainError('webhook_endpoint_not_found', 'Webhook endpoint not found');

export const webhookDeliveryNotFound = () =>
  new DomainError('webhook_delivery_not_found', 'Webhook delivery not found');

export const webhookEndpointDisabled = () =>
  new DomainError('webhook_endpoint_disabled', 'Webhook endpoint is disabled');

export const webhookUrlRefused = (url: string, problem: string) =>
  new DomainError('webhook_url_refused', `Value error, ${problem}`, { facts: { url, problem } });

export const storeUnavailable = (cause: unknown) =>
  new DomainError('store_unavailable', 'Limits store unavailable', { cause });

/** The caller's deadline passed before the store decided: nothing was done, the caller is told it timed out. */
export const deadlineExceeded = () => new DomainError('deadline_exceeded', REQUEST_TIMED_OUT);

/**
 * PostgreSQL's SQLSTATEs for "the database could not be talked to", not "it refused the
 * statement": class 08 (connection exception), too many connections, a server shutting down,
 * crashed or starting up.
 */
const CONNECTION_SQLSTATE = /^(08...|53300|57P0[123])$/;
const SQLSTATE = /^[0-9A-Z]{5}$/;
/** What JavaScript throws for a bug in our code, never for an unreachable database. */
const BUGS = [TypeError, RangeError, ReferenceError, SyntaxError];

/**
 * Whether a store failure means the store is unreachable (worth a retry: 503) rather than a fault
 * of ours (500). An error the database answered a statement with (it carries a SQLSTATE and a
 * severity: postgres.js's `PostgresError`, PGlite's `DatabaseError`, anywhere in the `cause`
 * chain drizzle wraps them in) is a fault unless its SQLSTATE is a connection one. Without one,
 * the database did not answer (a refused or lost connection, a timeout): unreachable — unless it
 * is a bug of ours (a `TypeError`, `RangeError`, …).
 */
function isStoreUnreachable(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const { code, severity } = e as { code?: unknown; severity?: unknown };
    if (typeof code === 'string' && SQLSTATE.test(code) && typeof severity === 'string') {
      return CONNECTION_SQLSTATE.test(code);
    }
    if (BUGS.some((kind) => e instanceof kind)) return false;
  }
  return true;
}

/**
 * Runs a store read or write; an unreachable store becomes `store_unavailable`. Domain errors,
 * and failures that are faults (see `isStoreUnreachable`), go on as they are.
 */
export async function orUnavailable<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (error) {
    if (error instanceof DomainError || !isStoreUnreachable(error)) throw error;
    throw storeUnavailable(error);
  }
}
