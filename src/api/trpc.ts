import { initTRPC, TRPCError } from '@trpc/server';
import type { OpenApiMeta } from 'trpc-to-openapi';
import type { BillingContext } from './context.js';
import { domainStatusOf, INTERNAL_SERVER_ERROR, toFastApiFailure } from './errors.js';

// A type alias, not an interface: trpc-to-openapi wants meta assignable to an index signature.
export type BillingMeta = {
  /**
   * Input fields the REST route reads from request headers instead of the query or body,
   * e.g. `{ tenantId: 'tenant-id' }`. tRPC callers pass them in the input as usual.
   */
  inputHeaders?: Readonly<Record<string, string>>;
  /** Operator-only: guarded by admin tokens, documented with their security scheme. */
  admin?: true;
};

const t = initTRPC
  .context<BillingContext>()
  .meta<OpenApiMeta<BillingMeta>>()
  .create({
    // Never ship stack traces to callers, whatever NODE_ENV says.
    isDev: false,
    errorFormatter({ shape, error, input }) {
      const { status, detail } = toFastApiFailure(error, input, (path) => ['input', ...path.map(String)]);
      // A 500 tells the caller nothing about its cause, on /trpc as on REST.
      const domainStatus = domainStatusOf(error);
      const message = status >= 500 && !domainStatus ? INTERNAL_SERVER_ERROR : shape.message;
      const httpStatus = domainStatus ?? shape.data.httpStatus;
      return { ...shape, message, data: { ...shape.data, httpStatus, detail } };
    },
  });

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/** Procedures only the Engine (a valid worker token) may call. Runs before input parsing: auth first, then headers. */
export const workerProcedure = t.procedure.use(async ({ ctx, next }) => {
  try {
    const claims = await ctx.services.authenticateWorker(ctx.authorization);
    return next({ ctx: { worker: claims } });
  } catch (cause) {
    throw new TRPCError({ code: 'UNAUTHORIZED', cause });
  }
});

/**
 * Procedures for operators (admin tokens: aud `billing-admin`). The admin API answers 404 when
 * it is off, as if it were not there. `actor` (the token's `sub`) goes into the audit log.
 */
export const adminProcedure = t.procedure.use(async ({ ctx, next }) => {
  const { authenticateAdmin, administration } = ctx.services;
  if (!authenticateAdmin || !administration) throw new TRPCError({ code: 'NOT_FOUND', message: 'Not Found' });
  let claims: Awaited<ReturnType<typeof authenticateAdmin>>;
  try {
    claims = await authenticateAdmin(ctx.authorization);
  } catch (cause) {
    throw new TRPCError({ code: 'UNAUTHORIZED', cause });
  }
  const subject = claims['sub'];
  return next({ ctx: { administration, actor: typeof subject === 'string' && subject ? subject : 'admin' } });
});
