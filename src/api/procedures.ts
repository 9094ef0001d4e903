/**
 * The one module that reads tRPC's internals (`_def`, `unstable-core-do-not-import`): listing a
 * router's procedures with their meta, running a procedure without tRPC's per-call machinery, and
 * shaping an error as tRPC would. `@trpc/server` is pinned to an exact version in package.json for
 * this reason; `test/http/procedures.test.ts` holds every procedure of the router, run here, to
 * tRPC's own caller, so an upgrade that changes the internals fails loudly.
 */
import { TRPCError } from '@trpc/server';
import { getErrorShape, getParseFn, getTRPCErrorFromUnknown } from '@trpc/server/unstable-core-do-not-import';
import type { OpenApiMeta } from 'trpc-to-openapi';
import type { BillingContext } from './context.js';
import { type AppRouter, appRouter } from './router.js';
import { type BillingMeta, type CallObserver, plainMiddlewareOf } from './trpc.js';

export type ProcedureMeta = OpenApiMeta<BillingMeta>;
export type ProcedureRun = (ctx: BillingContext, rawInput: unknown) => Promise<unknown>;

/** One procedure of the router, as the HTTP adapters serve it. */
export interface ProcedureEntry {
  /** e.g. `billing.limits`. */
  path: string;
  type: 'query' | 'mutation' | 'subscription';
  meta: ProcedureMeta | undefined;
  /** The fields of its input object (none when the input is not a zod object). */
  inputFields: readonly string[];
  run: ProcedureRun;
}

interface ProcedureDefinition {
  type: ProcedureEntry['type'];
  meta?: ProcedureMeta;
  middlewares: (((options: never) => Promise<unknown>) & { _type?: string })[];
  inputs?: unknown[];
  output?: unknown;
  resolver?: (options: Record<string, unknown>) => Promise<unknown>;
}

const entries = new Map<AppRouter, ProcedureEntry[]>();

/** Every procedure of the router, each with its runner (built once). */
export function proceduresOf(router: AppRouter = appRouter): readonly ProcedureEntry[] {
  let list = entries.get(router);
  if (!list) {
    list = [];
    const procedures = router._def.procedures as unknown as Record<string, { _def: ProcedureDefinition }>;
    for (const [path, procedure] of Object.entries(procedures)) {
      const definition = procedure._def;
      list.push({
        path,
        type: definition.type,
        meta: definition.meta,
        inputFields: inputFieldsOf(definition.inputs?.[0]),
        run: runnerOf(definition, path),
      });
    }
    entries.set(router, list);
  }
  return list;
}

/** The keys of a zod object schema (through `.optional()`), else none. */
function inputFieldsOf(schema: unknown): string[] {
  let current = schema as { shape?: Record<string, unknown>; unwrap?: () => unknown } | undefined;
  while (current && !current.shape && typeof current.unwrap === 'function') {
    current = current.unwrap() as typeof current;
  }
  return current?.shape ? Object.keys(current.shape) : [];
}

/**
 * Runs a procedure as tRPC's caller does — our middlewares in order (each stands for a plain
 * function: a context extension or a call observer), then the procedure's input parser, resolver
 * and output parser (through tRPC's `getParseFn`, as tRPC parses), with tRPC's error wrapping —
 * without tRPC's per-step object spreads and promise plumbing, which cost more than everything
 * else on the hot path. A chain of another shape throws here, at start-up.
 *
 * A resolver that returns a frozen object (the limits of a cached tenant) has its output parsed
 * once: the parsed answer is remembered for that object and answered again, with the same
 * identity, so the HTTP adapters can remember its serialized bytes too.
 */
function runnerOf(definition: ProcedureDefinition, path: string): ProcedureRun {
  const { middlewares, inputs, output, resolver, meta, type } = definition;
  const inputStep = middlewares.findIndex((middleware) => middleware._type === 'input');
  const ours = middlewares.slice(0, inputStep);
  const rest = middlewares.slice(inputStep);
  const plain = ours.map(plainMiddlewareOf);
  // After ours: the input parser, the output parser and the resolver's own step, nothing else.
  const after = rest.map((middleware) => middleware._type ?? 'resolver').join(' ');
  if (
    after !== 'input output resolver' ||
    plain.some((step) => step === undefined) ||
    inputs?.length !== 1 ||
    !output ||
    !resolver
  ) {
    throw new Error(`${path}: not a procedure chain this runner understands (tRPC internals changed?)`);
  }
  const parseInput = getParseFn(inputs[0] as Parameters<typeof getParseFn>[0]);
  const parseOutput = getParseFn(output as Parameters<typeof getParseFn>[0]);
  const steps = plain as NonNullable<(typeof plain)[number]>[];
  const observers = steps.filter((step) => 'observe' in step).length;
  const parsedOutputs = new WeakMap<object, unknown>();

  /** The resolver's answer, validated: a frozen one once (then remembered), any other every time. */
  async function validOutput(data: unknown): Promise<unknown> {
    const frozen = typeof data === 'object' && data !== null && Object.isFrozen(data);
    if (frozen) {
      const known = parsedOutputs.get(data);
      if (known !== undefined) return known;
    }
    let parsed: unknown;
    try {
      parsed = parseOutput(data);
      if (parsed instanceof Promise) parsed = await parsed;
    } catch (cause) {
      throw new TRPCError({ message: 'Output validation failed', code: 'INTERNAL_SERVER_ERROR', cause });
    }
    if (frozen) parsedOutputs.set(data as object, deepFreeze(parsed));
    return parsed;
  }

  /** The steps after our middlewares: input parser, resolver, output parser. */
  async function resolve(ctx: BillingContext, rawInput: unknown): Promise<unknown> {
    let input: unknown;
    try {
      // zod parses synchronously here (tRPC's parse function); awaiting only what is a promise.
      input = parseInput(rawInput);
      if (input instanceof Promise) input = await input;
    } catch (cause) {
      throw new TRPCError({ code: 'BAD_REQUEST', cause });
    }
    let data: unknown;
    try {
      // A resolver may answer without a promise (a cache hit): awaited only when it is one.
      data = resolver?.({
        ctx,
        input,
        getRawInput: rawInputGetter(rawInput),
        meta,
        path,
        type,
        signal: ctx.signal,
        batchIndex: 0,
      });
      if (data instanceof Promise) data = await data;
    } catch (cause) {
      throw getTRPCErrorFromUnknown(cause);
    }
    return validOutput(data);
  }

  // One async function for the whole chain: a context extension replaces the context the steps
  // after it see; an observer sees the outcome of every step after it, with the context it had.
  return async function run(ctx, rawInput) {
    const observed: { observe: CallObserver; ctx: BillingContext }[] | undefined =
      observers > 0 ? [] : undefined;
    let current = ctx;
    try {
      for (const step of steps) {
        if ('extend' in step) current = { ...current, ...(await step.extend(current)) };
        else observed?.push({ observe: step.observe, ctx: current });
      }
      const data = await resolve(current, rawInput);
      if (observed)
        for (let i = observed.length - 1; i >= 0; i--)
          observed[i]?.observe(observed[i]?.ctx ?? ctx, { data });
      return data;
    } catch (cause) {
      const error = getTRPCErrorFromUnknown(cause);
      if (observed)
        for (let i = observed.length - 1; i >= 0; i--)
          observed[i]?.observe(observed[i]?.ctx ?? ctx, { error });
      throw error;
    }
  };
}

/** Parsed output is plain JSON data: frozen all the way down, its serialized bytes can be remembered. */
function deepFreeze<T>(value: T): T {
  // A primitive, null included, is frozen already.
  if (!Object.isFrozen(value)) {
    for (const child of Object.values(value as object)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * The resolver's `getRawInput`. Built here rather than inline: tsx (which `npm start` runs under)
 * names every inline closure with a `defineProperty` call, measurable on the hot path.
 */
function rawInputGetter(rawInput: unknown): () => Promise<unknown> {
  return () => Promise.resolve(rawInput);
}

/** Any thrown value as the `TRPCError` tRPC would have made of it. */
export const trpcErrorOf: (cause: unknown) => TRPCError = getTRPCErrorFromUnknown;

/** tRPC's error envelope for `error`, formatted by our error formatter, as `/trpc` answers it. */
export function errorShapeOf(
  error: TRPCError,
  call: { type: ProcedureEntry['type'] | 'unknown'; path: string | undefined; input: unknown; ctx: unknown },
): unknown {
  return getErrorShape({ config: appRouter._def._config, error, ...call, ctx: call.ctx as BillingContext });
}
