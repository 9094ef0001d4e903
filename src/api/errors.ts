import { TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import type { z } from 'zod';
import { AuthenticationError } from '../auth/errors.js';
import type { ValidationIssue } from '../contract/errors.js';
import { DomainError, type DomainErrorCode } from '../domain/errors.js';
import { type LocateField, toValidationIssues } from './validation-issues.js';

export const INTERNAL_SERVER_ERROR = 'Internal Server Error';

/** A failure as FastAPI would have answered it: status, `detail`, and whether to challenge for a bearer token. */
export interface FastApiFailure {
  status: number;
  detail: string | ValidationIssue[] | Record<string, unknown>;
  bearerChallenge: boolean;
}

function validationIssuesOf(cause: unknown): z.core.$ZodIssue[] | undefined {
  if (typeof cause !== 'object' || cause === null || !('issues' in cause)) return undefined;
  return Array.isArray(cause.issues) ? (cause.issues as z.core.$ZodIssue[]) : undefined;
}

/**
 * The one place an error becomes what a caller sees. Everything not listed here is a 500 whose
 * body says nothing about the cause; the cause goes to the log instead.
 */
export function toFastApiFailure(error: unknown, rawInput: unknown, locate: LocateField): FastApiFailure {
  const trpcError = error instanceof TRPCError ? error : undefined;
  const cause = trpcError?.cause ?? error;
  if (cause instanceof DomainError) return domainFailure(cause, locate);
  if (cause instanceof AuthenticationError) {
    return { status: 401, detail: cause.detail, bearerChallenge: true };
  }
  const issues = trpcError?.code === 'BAD_REQUEST' ? validationIssuesOf(cause) : undefined;
  if (issues) {
    return { status: 422, detail: toValidationIssues(issues, rawInput, locate), bearerChallenge: false };
  }
  const status = trpcError ? getHTTPStatusCodeFromError(trpcError) : 500;
  if (status >= 500 || !trpcError)
    return { status: 500, detail: INTERNAL_SERVER_ERROR, bearerChallenge: false };
  return { status, detail: trpcError.message, bearerChallenge: false };
}

function domainFailure(error: DomainError, locate: LocateField): FastApiFailure {
  switch (error.code) {
    case 'tenant_not_found':
      return { status: 404, detail: error.message, bearerChallenge: false };
    case 'store_unavailable':
    case 'deadline_exceeded':
      return { status: 503, detail: error.message, bearerChallenge: false };
    case 'limit_exceeded':
      return { status: 409, detail: { code: 'limit_exceeded', ...error.facts }, bearerChallenge: false };
    case 'reservation_not_found':
    case 'webhook_event_not_found':
    case 'webhook_endpoint_not_found':
    case 'webhook_delivery_not_found':
      return { status: 404, detail: error.message, bearerChallenge: false };
    case 'orb_plan_already_mapped':
    case 'webhook_endpoint_disabled':
      return { status: 409, detail: error.message, bearerChallenge: false };
    case 'not_leased':
    case 'reservation_expired':
    case 'reservation_released':
      return { status: 409, detail: { code: error.code }, bearerChallenge: false };
    case 'idempotency_key_reused':
      return {
        status: 422,
        detail: [
          {
            type: 'idempotency_key_reused',
            loc: [...locate(['idempotency_key'])],
            msg: error.message,
            input: error.facts['idempotency_key'] ?? null,
          },
        ],
        bearerChallenge: false,
      };
    case 'webhook_url_refused':
      return {
        status: 422,
        detail: [
          {
            type: 'value_error',
            loc: [...locate(['url'])],
            msg: error.message,
            input: error.facts['url'] ?? null,
          },
        ],
        bearerChallenge: false,
      };
    case 'plan_required':
      // Conditionally required: a new customer needs a plan. Reported as pydantic reports a missing field.
      return {
        status: 422,
        detail: [{ type: 'missing', loc: [...locate(['plan_id'])], msg: 'Field required', input: null }],
        bearerChallenge: false,
      };
  }
}

/** The status a caller is answered for `error` (REST's; on `/trpc` a validation failure is a 400 instead). */
export function failureStatusOf(error: unknown): number {
  return toFastApiFailure(error, undefined, () => []).status;
}

/**
 * The tRPC code each domain failure is reported with on `/trpc`: the one its REST status means, so a
 * typed client reads `NOT_FOUND` where REST answers 404 — and `TIMEOUT` for a missed deadline, whose
 * status stays REST's 503 (tRPC's own 408 would say the client was slow).
 */
const TRPC_CODE_OF: Readonly<Record<DomainErrorCode, TRPC_ERROR_CODE_KEY>> = {
  tenant_not_found: 'NOT_FOUND',
  reservation_not_found: 'NOT_FOUND',
  webhook_event_not_found: 'NOT_FOUND',
  webhook_endpoint_not_found: 'NOT_FOUND',
  webhook_delivery_not_found: 'NOT_FOUND',
  webhook_endpoint_disabled: 'CONFLICT',
  webhook_url_refused: 'UNPROCESSABLE_CONTENT',
  limit_exceeded: 'CONFLICT',
  orb_plan_already_mapped: 'CONFLICT',
  not_leased: 'CONFLICT',
  reservation_expired: 'CONFLICT',
  reservation_released: 'CONFLICT',
  idempotency_key_reused: 'UNPROCESSABLE_CONTENT',
  plan_required: 'UNPROCESSABLE_CONTENT',
  store_unavailable: 'SERVICE_UNAVAILABLE',
  deadline_exceeded: 'TIMEOUT',
};

/** How `/trpc` reports a domain failure — its tRPC code and its REST status — or `undefined` for any other error. */
/** The domain failure an error is, or wraps (tRPC wraps what a procedure throws), if any. */
export function domainErrorOf(error: unknown): DomainError | undefined {
  const cause = error instanceof TRPCError ? error.cause : error;
  return cause instanceof DomainError ? cause : undefined;
}

export function trpcFailureOf(error: unknown): { code: TRPC_ERROR_CODE_KEY; httpStatus: number } | undefined {
  const cause = domainErrorOf(error);
  if (!cause) return undefined;
  return { code: TRPC_CODE_OF[cause.code], httpStatus: domainFailure(cause, () => []).status };
}

/** The HTTP status a domain failure gets on `/trpc` too (tRPC itself would call it a 500). */
export function domainStatusOf(error: unknown): number | undefined {
  return trpcFailureOf(error)?.httpStatus;
}
