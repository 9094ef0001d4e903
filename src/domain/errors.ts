/**
 * The closed set of failures the domain reports as values a caller can act on. `src/api/errors.ts`
 * maps each code to a status and body, in one switch.
 */
export type DomainErrorCode =
  | 'tenant_not_found'
  | 'store_unavailable'
  | 'plan_required'
  | 'limit_exceeded'
  | 'idempotency_key_reused'
  | 'reservation_not_found';

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

export const storeUnavailable = (cause: unknown) =>
  new DomainError('store_unavailable', 'Limits store unavailable', { cause });

/** Runs a store read or write; an unreachable store becomes `store_unavailable`, domain errors pass through. */
export async function orUnavailable<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (error) {
    if (error instanceof DomainError) throw error;
    throw storeUnavailable(error);
  }
}
