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
  /** The REST status of a success when not 200: 201 (created), 204 (no body). */
  successStatus?: 201 | 204;
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

/**
 * What an authenticated call adds to the context. The auth middlewares below are nothing but
 * these functions, so the REST runner can apply them without walking tRPC's middleware chain
 * (`src/api/procedure-runner.ts`) and both paths stay one implementation.
 */
type ContextExtension = (ctx: BillingContext) => Promise<object>;
const contextExtensions = new Map<unknown, ContextExtension>();

/** The context extension a middleware function stands for, if it is one of ours. */
export function contextExtensionOf(middleware: unknown): ContextExtension | undefined {
  return contextExtensions.get(middleware);
}

async function workerContext(ctx: BillingContext) {
  try {
    return { worker: await ctx.services.authenticateWorker(ctx.authorization) };
  } catch (cause) {
    throw new TRPCError({ code: 'UNAUTHORIZED', cause });
  }
}

async function adminContext(ctx: BillingContext) {
  const { authenticateAdmin, administration } = ctx.services;
  if (!authenticateAdmin || !administration) throw new TRPCError({ code: 'NOT_FOUND', message: 'Not Found' });
  let claims: Awaited<ReturnType<typeof authenticateAdmin>>;
  try {
    claims = await authenticateAdmin(ctx.authorization);
  } catch (cause) {
    throw new TRPCError({ code: 'UNAUTHORIZED', cause });
  }
  const subject = claims['sub'];
  return { administration, actor: typeof subject === 'string' && subject ? subject : 'admin' };
}

const workerAuth = t.middleware(async ({ ctx, next }) => next({ ctx: await workerContext(ctx) }));
const adminAuth = t.middleware(async ({ ctx, next }) => next({ ctx: await adminContext(ctx) }));
contextExtensions.set(workerAuth._middlewares[0], workerContext);
contextExtensions.set(adminAuth._middlewares[0], adminContext);

/** Procedures only the Engine (a valid worker token) may call. Runs before input parsing: auth first, then headers. */
export const workerProcedure = t.procedure.use(workerAuth);

/**
 * Procedures for operators (admin tokens: aud `billing-admin`). The admin API answers 404 when
 * it is off, as if it were not there. `actor` (the token's `sub`) goes into the audit log.
 */
export const adminProcedure = t.procedure.use(adminAuth);
