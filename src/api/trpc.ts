import { initTRPC, TRPCError } from '@trpc/server';
import { TRPC_ERROR_CODES_BY_KEY } from '@trpc/server/rpc';
import type { OpenApiMeta } from 'trpc-to-openapi';
import { missingClaim } from '../auth/pyjwt-compat.js';
import type { BillingContext } from './context.js';
import { failureStatusOf, INTERNAL_SERVER_ERROR, toFastApiFailure, trpcFailureOf } from './errors.js';
import { locationPart } from './validation-issues.js';

// A type alias, not an interface: trpc-to-openapi wants meta assignable to an index signature.
export type BillingMeta = {
  /**
   * Input fields the REST route reads from request headers instead of the query or body,
   * e.g. `{ tenantId: 'tenant-id' }`. tRPC callers pass them in the input as usual.
   */
  inputHeaders?: Readonly<Record<string, string>>;
  /** Operator-only: guarded by admin tokens, documented with their security scheme. */
  admin?: true;
  /**
   * The REST body may be left out (read as `{}`): every field it carries is optional. Otherwise a
   * missing body is a 422, as FastAPI answers for a required body model.
   */
  optionalBody?: true;
  /** The REST status of a success when not 200: 201 (created), 202 (accepted, done later), 204 (no body). */
  successStatus?: 201 | 202 | 204;
  /**
   * The body a 409 here answers, when not a plain `{detail}`: `LimitExceeded` (a limit's facts) or
   * `RenewConflict` (why a lease cannot be renewed); the name of its schema in the document.
   */
  conflictBody?: 'LimitExceeded' | 'RenewConflict';
};

/** How often a quiet stream says it is alive (a comment on REST, tRPC's ping on `/trpc`). */
export const STREAM_HEARTBEAT_MS = 15_000;

const t = initTRPC
  .context<BillingContext>()
  .meta<OpenApiMeta<BillingMeta>>()
  .create({
    // Never ship stack traces to callers, whatever NODE_ENV says.
    isDev: false,
    // Subscriptions (SSE): a ping every 15 s keeps proxies from closing a quiet stream, and tells
    // tRPC's client to reconnect (resuming by the last id) when none came for 40 s.
    sse: {
      ping: { enabled: true, intervalMs: STREAM_HEARTBEAT_MS },
      client: { reconnectAfterInactivityMs: 40_000 },
    },
    errorFormatter({ shape, error, input }) {
      const { status, detail } = toFastApiFailure(error, input, (path) => [
        'input',
        ...path.map(locationPart),
      ]);
      // A domain failure reaches tRPC as an unknown error (INTERNAL_SERVER_ERROR): it is reported
      // with its own code and its REST status instead, so typed clients can tell "not found".
      const domain = trpcFailureOf(error);
      if (domain) {
        const { code, httpStatus } = domain;
        return {
          ...shape,
          code: TRPC_ERROR_CODES_BY_KEY[code],
          data: { ...shape.data, code, httpStatus, detail },
        };
      }
      // A 500 tells the caller nothing about its cause, on /trpc as on REST.
      const message = status >= 500 ? INTERNAL_SERVER_ERROR : shape.message;
      return { ...shape, message, data: { ...shape.data, detail } };
    },
  });

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/**
 * Our middlewares are plain functions first, registered here by the tRPC middleware that stands
 * for them, so the REST adapter (`procedures.ts`) can run a procedure's chain without walking
 * tRPC's machinery, and both paths stay one implementation.
 */
export type ContextExtension = (ctx: BillingContext) => Promise<object>;
export type CallObserver = (ctx: BillingContext, outcome: { data?: unknown; error?: unknown }) => void;
const contextExtensions = new Map<unknown, ContextExtension>();
const callObservers = new Map<unknown, CallObserver>();

/** The plain function a middleware of ours stands for, if it is one. */
export function plainMiddlewareOf(
  middleware: unknown,
): { extend: ContextExtension } | { observe: CallObserver } | undefined {
  const extend = contextExtensions.get(middleware);
  if (extend) return { extend };
  const observe = callObservers.get(middleware);
  return observe ? { observe } : undefined;
}

function extending<Extension extends object>(extend: (ctx: BillingContext) => Promise<Extension>) {
  const middleware = t.middleware(async ({ ctx, next }) => next({ ctx: await extend(ctx) }));
  contextExtensions.set(middleware._middlewares[0], extend);
  return middleware;
}

function observing(observe: CallObserver) {
  const middleware = t.middleware(async ({ ctx, next }) => {
    const result = await next();
    observe(ctx, result.ok ? { data: result.data } : { error: result.error });
    return result;
  });
  callObservers.set(middleware._middlewares[0], observe);
  return middleware;
}

const workerAuth = extending(async (ctx) => {
  try {
    return { worker: await ctx.services.authenticateWorker(ctx.authorization) };
  } catch (cause) {
    throw new TRPCError({ code: 'UNAUTHORIZED', cause });
  }
});

const adminAuth = extending(async (ctx) => {
  const { authenticateAdmin, administration, webhookEvents } = ctx.services;
  if (!authenticateAdmin || !administration || !webhookEvents)
    throw new TRPCError({ code: 'NOT_FOUND', message: 'Not Found' });
  let claims: Awaited<ReturnType<typeof authenticateAdmin>>;
  try {
    claims = await authenticateAdmin(ctx.authorization);
  } catch (cause) {
    throw new TRPCError({ code: 'UNAUTHORIZED', cause });
  }
  // The verifier requires `sub` (ADMIN_REQUIRED_CLAIMS); the audit log never names a stand-in.
  const subject = claims['sub'];
  if (typeof subject !== 'string' || subject.trim() === '') {
    throw new TRPCError({ code: 'UNAUTHORIZED', cause: missingClaim('sub') });
  }
  return { administration, webhookEvents, actor: subject };
});

/** `billing_limit_checks_total`: every limits call's outcome, whichever step ended it (auth, input, store). */
const countLimitCheck = observing((ctx, { data, error }) => {
  const plan = (data as { limits?: { plan_type?: string } } | undefined)?.limits?.plan_type ?? 'none';
  ctx.services.recordLimitCheck(plan, error === undefined ? 200 : failureStatusOf(error));
});

/** Procedures only the Engine (a valid worker token) may call. Runs before input parsing: auth first, then headers. */
export const workerProcedure = t.procedure.use(workerAuth);

/** The limits check: a worker procedure whose every call is counted as a limit check. */
export const limitCheckProcedure = t.procedure.use(countLimitCheck).use(workerAuth);

/**
 * Procedures for operators (admin tokens: aud `billing-admin`). The admin API answers 404 when
 * it is off, as if it were not there. `actor` (the token's `sub`) goes into the audit log.
 */
export const adminProcedure = t.procedure.use(adminAuth);
