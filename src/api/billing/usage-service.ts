import { TRPCError } from '@trpc/server';
import type { BillingContext } from '../context.js';

/** Usage needs the store; a service embedded without one answers 404 there, as if the routes were absent. */
export function usageServiceOf(ctx: BillingContext) {
  const { usage } = ctx.services;
  if (!usage) throw new TRPCError({ code: 'NOT_FOUND', message: 'Not Found' });
  return usage;
}

/** Who the audit log names for a worker call: the token's subject, or the Engine. */
export function workerActor(claims: Readonly<Record<string, unknown>>): string {
  const subject = claims['sub'];
  return typeof subject === 'string' && subject ? subject : 'engine';
}
