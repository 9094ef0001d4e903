import { TRPCError } from '@trpc/server';
import type { BillingContext } from '../context.js';

/** A route that needs the store, in a service embedded without one: answered as if it were absent. */
const routeAbsent = () => new TRPCError({ code: 'NOT_FOUND', message: 'Not Found' });

/** Usage needs the store; a service embedded without one answers 404 there, as if the routes were absent. */
export function usageServiceOf(ctx: BillingContext) {
  const { usage } = ctx.services;
  if (!usage) throw routeAbsent();
  return usage;
}

/** Entitlements need the store too: the same 404 without one. */
export function entitlementsServiceOf(ctx: BillingContext) {
  const { entitlements } = ctx.services;
  if (!entitlements) throw routeAbsent();
  return entitlements;
}

/** Who the audit log names for a worker call: the token's subject, or the Engine. */
export function workerActor(claims: Readonly<Record<string, unknown>>): string {
  const subject = claims['sub'];
  return typeof subject === 'string' && subject ? subject : 'engine';
}

/**
 * What every usage route can answer besides success, in the words of its document; `own` adds a
 * route's own (409, 413) or rewords one.
 */
export function usageErrorResponses(own: Readonly<Record<number, string>> = {}): Record<number, string> {
  return {
    401: 'Unauthorized',
    404: 'Tenant not found',
    422: 'Validation Error',
    500: 'Internal Server Error',
    503: 'Store unavailable',
    ...own,
  };
}

/** A route that reads a JSON body can be refused it for its size. */
export const BODY_TOO_LARGE = { 413: 'Request body larger than 64 KiB' } as const;
