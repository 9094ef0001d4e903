import { TRPCError } from '@trpc/server';
import {
  getParseFn,
  getTRPCErrorFromUnknown,
  middlewareMarker,
} from '@trpc/server/unstable-core-do-not-import';
import type { BillingContext } from './context.js';
import { contextExtensionOf } from './trpc.js';

/** The options tRPC hands each middleware of a procedure (its `callRecursive` contract). */
interface MiddlewareCall {
  ctx: unknown;
  input: unknown;
  getRawInput: () => Promise<unknown>;
  meta: unknown;
  path: string;
  type: string;
  signal: AbortSignal | undefined;
  batchIndex: number;
  next(options?: {
    ctx?: object;
    input?: unknown;
    getRawInput?: () => Promise<unknown>;
  }): Promise<MiddlewareResult>;
}

type MiddlewareResult = { ok: true; data: unknown } | { ok: false; error: unknown };

type Middleware = ((call: MiddlewareCall) => Promise<MiddlewareResult>) & { _type?: string };

interface ProcedureDefinition {
  type: string;
  meta?: unknown;
  middlewares: Middleware[];
  inputs?: unknown[];
  output?: unknown;
  resolver?: (call: Omit<MiddlewareCall, 'next'>) => Promise<unknown>;
}

export type ProcedureRun = (ctx: BillingContext, rawInput: unknown) => Promise<unknown>;

/**
 * Runs a procedure exactly as tRPC's own caller does — its middleware chain in order: our auth
 * middleware, then tRPC's input and output validators built from the procedure's zod schemas,
 * then the resolver — without tRPC's per-step object spreads and promise plumbing, which cost
 * more than everything else on the REST hot path (README, Performance).
 *
 * When the chain is the common shape [one of our auth middlewares, input, output, resolver], its
 * steps run directly: the auth middleware's own context function, the procedure's own input
 * and output parsers (through tRPC's `getParseFn`, as tRPC parses them), the procedure's
 * resolver, with tRPC's error wrapping. Any other chain is walked middleware by middleware. Same
 * procedure, same schemas either way; `test/http/procedure-runner.test.ts` holds both to
 * tRPC's caller.
 */
export function createProcedureRunner(procedure: unknown, path: string): ProcedureRun {
  const definition = (procedure as { _def?: ProcedureDefinition })._def;
  if (!definition || !Array.isArray(definition.middlewares) || definition.middlewares.length === 0) {
    throw new Error(`${path}: not a tRPC procedure this runner understands (tRPC internals changed?)`);
  }
  const { middlewares, meta, type } = definition;
  const direct = directRun(definition, path);
  if (direct) return direct;

  async function step(
    index: number,
    ctx: unknown,
    input: unknown,
    getRawInput: () => Promise<unknown>,
  ): Promise<MiddlewareResult> {
    const middleware = middlewares[index];
    if (!middleware) throw new Error(`${path}: the middleware chain ended without a result`);
    try {
      return await middleware({
        ctx,
        input,
        getRawInput,
        meta,
        path,
        type,
        signal: undefined,
        batchIndex: 0,
        next: (options) =>
          step(
            index + 1,
            options?.ctx ? { ...(ctx as object), ...options.ctx } : ctx,
            options && 'input' in options ? options.input : input,
            options?.getRawInput ?? getRawInput,
          ),
      });
    } catch (cause) {
      return {
        ok: false,
        error: getTRPCErrorFromUnknown(cause),
        marker: middlewareMarker,
      } as MiddlewareResult;
    }
  }

  return async function run(ctx, rawInput) {
    const result = await step(0, ctx, undefined, async () => rawInput);
    if (!result.ok) throw result.error;
    return result.data;
  };
}

/**
 * The resolver's `getRawInput`. Built here rather than inline: tsx (which `npm start` runs under)
 * names every inline closure with a `defineProperty` call, measurable on the hot path.
 */
function rawInputGetter(rawInput: unknown): () => Promise<unknown> {
  return () => Promise.resolve(rawInput);
}

/** The [auth, input, output, resolver] chain, run step by step without the chain machinery. */
function directRun(definition: ProcedureDefinition, path: string): ProcedureRun | undefined {
  const { middlewares, inputs, output, resolver, meta, type } = definition;
  const [auth, inputStep, outputStep, resolveStep] = middlewares;
  const extend = contextExtensionOf(auth);
  if (
    middlewares.length !== 4 ||
    !extend ||
    inputStep?._type !== 'input' ||
    outputStep?._type !== 'output' ||
    !resolveStep ||
    resolveStep._type !== undefined ||
    inputs?.length !== 1 ||
    !output ||
    !resolver
  ) {
    return undefined;
  }
  const parseInput = getParseFn(inputs[0] as Parameters<typeof getParseFn>[0]);
  const parseOutput = getParseFn(output as Parameters<typeof getParseFn>[0]);

  return async function run(ctx, rawInput) {
    const extension = await extend(ctx);
    let input: unknown;
    try {
      input = await parseInput(rawInput);
    } catch (cause) {
      throw new TRPCError({ code: 'BAD_REQUEST', cause });
    }
    let data: unknown;
    try {
      data = await resolver({
        ctx: { ...ctx, ...extension },
        input,
        getRawInput: rawInputGetter(rawInput),
        meta,
        path,
        type,
        signal: undefined,
        batchIndex: 0,
      });
    } catch (cause) {
      throw getTRPCErrorFromUnknown(cause);
    }
    try {
      return await parseOutput(data);
    } catch (cause) {
      throw new TRPCError({ message: 'Output validation failed', code: 'INTERNAL_SERVER_ERROR', cause });
    }
  };
}
