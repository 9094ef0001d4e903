import { TRPCClientError } from '@trpc/client';
import type { AppRouter } from './app-router.js';

/** A failed call: `data.code` is the tRPC code (`NOT_FOUND`, `CONFLICT`, …), `data.detail` the REST body's detail. */
export type BillingClientError = TRPCClientError<AppRouter>;

/**
 * Whether `error` is a failed call of a billing client, typed: `data.code` says what went wrong as
 * the REST status does (`NOT_FOUND` for 404, `CONFLICT` for 409, `UNPROCESSABLE_CONTENT` for 422,
 * `SERVICE_UNAVAILABLE` or `TIMEOUT` for 503), `data.httpStatus` is that status. A call that got no
 * answer from the service (network failure, timeout) is one too, without `data`.
 *
 * @example
 * try {
 *   await billing.billing.limits.query({ tenantId: 'org-123' });
 * } catch (error) {
 *   if (isBillingClientError(error) && error.data?.code === 'NOT_FOUND') console.log(error.data.detail); // 'Tenant not found'
 * }
 */
export function isBillingClientError(error: unknown): error is BillingClientError {
  return error instanceof TRPCClientError;
}

/**
 * Whether the service could not answer: no answer at all (network failure, the client's timeout,
 * a proxy's error page instead of the service's JSON) or a 5xx. A 4xx is an answer — the caller's
 * request was wrong or the tenant does not exist — and is never papered over or retried.
 */
export function isUnavailable(error: unknown): boolean {
  if (!isBillingClientError(error)) return false;
  const status = error.data?.httpStatus;
  return status === undefined || status >= 500;
}

/**
 * Why the service refused a call with 409, when it says so with a code (`{"detail": {"code": …}}`):
 * `limit_exceeded` (`reserve()`: past a hard limit or an overage cap), or why a lease cannot be
 * renewed — `reservation_expired` (its lease ended and its capacity was released: reserve again),
 * `reservation_released` (a caller released it), `not_leased` (it has no lease). Anything else,
 * a 409 included whose detail is only a message, is `undefined`.
 *
 * @example
 * try {
 *   await billing.renew({ tenantId: 'org-123', reservationId });
 * } catch (error) {
 *   if (conflictCodeOf(error) === 'reservation_expired') reservation = await billing.reserve(request);
 *   else throw error;
 * }
 */
export function conflictCodeOf(error: unknown): string | undefined {
  if (!isBillingClientError(error) || error.data?.httpStatus !== 409) return undefined;
  const detail: unknown = error.data.detail;
  if (typeof detail !== 'object' || detail === null || !('code' in detail)) return undefined;
  return typeof detail.code === 'string' ? detail.code : undefined;
}
