import { TRPCError } from '@trpc/server';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { getErrorShape, getTRPCErrorFromUnknown } from '@trpc/server/unstable-core-do-not-import';
import type { Context, Hono } from 'hono';
import { domainStatusOf } from '../api/errors.js';
import { createProcedureRunner, type ProcedureRun } from '../api/procedure-runner.js';
import { appRouter } from '../api/router.js';
import { limitBody } from './body-limit.js';
import { exceedsJsonDepth, MAX_JSON_DEPTH } from './json-depth.js';
import type { EdgeOptions } from './rest-routes.js';

export const TRPC_ENDPOINT = '/trpc';

/** The response headers tRPC's fetch adapter sets on every answer. */
const TRPC_HEADERS = { 'Content-Type': 'application/json', Vary: 'trpc-accept, accept' } as const;

/** What the 401 challenge and a domain failure change in tRPC's answer — shared by both paths below. */
function responseMetaFor(errors: readonly TRPCError[]): {
  status?: number;
  headers?: Record<string, string>;
} {
  // Same challenge as the REST route, so HTTP clients on either path see a standard 401.
  const unauthorized = errors.some((error) => error.code === 'UNAUTHORIZED');
  const status = errors.length === 1 ? domainStatusOf(errors[0]) : undefined;
  return {
    ...(status ? { status } : {}),
    ...(unauthorized ? { headers: { 'WWW-Authenticate': 'Bearer' } } : {}),
  };
}

/** The status an error is answered with on `/trpc`: a domain failure's own (404, 503, …), else tRPC's. */
function statusOf(error: TRPCError): number {
  return domainStatusOf(error) ?? getHTTPStatusCodeFromError(error);
}

/**
 * tRPC for TypeScript callers, without a data transformer so that
 * `GET /trpc/billing.limits?input=<json>` works from any HTTP client too.
 *
 * A single query over GET — what the typed client's `httpLink` and plain HTTP callers send —
 * is answered here through the same procedure runner as REST, with tRPC's own error shapes and
 * status codes; `fetchRequestHandler`, which builds a `Request` and a `Response` per call, serves
 * everything else (batches, mutations, malformed input) and is the reference the tests hold the
 * short path to.
 */
export function mountTrpcEndpoint(
  app: Hono,
  options: EdgeOptions,
  { shortPath = true }: { shortPath?: boolean } = {},
): void {
  const { createContext, onServerError, onCallResult } = options;
  const fullHandler = (c: Context, req: Request) =>
    fetchRequestHandler({
      endpoint: TRPC_ENDPOINT,
      req,
      router: appRouter,
      createContext: () => createContext(c),
      responseMeta({ errors, paths, data }) {
        if (onCallResult) reportCalls(onCallResult, paths, data);
        return responseMetaFor(errors);
      },
      onError({ error }) {
        const status = statusOf(error);
        if (status >= 500) onServerError(error, status, c);
      },
    });
  const answerQuery = shortPath ? queryShortPath(options) : undefined;
  // Batches and mutations carry a body: bounded like every other body the service reads.
  app.post(`${TRPC_ENDPOINT}/*`, limitBody());
  // One route, so that a request runs one handler (Hono composes several into a slower chain).
  app.all(`${TRPC_ENDPOINT}/*`, async (c) => {
    const input = c.req.query('input');
    if (input !== undefined && exceedsJsonDepth(input)) return tooDeep(c);
    const answered = await answerQuery?.(c);
    if (answered) return answered;
    if (c.req.method !== 'POST') return fullHandler(c, c.req.raw);
    // The body is read here to check its depth, so tRPC gets a request carrying the text read.
    const body = await c.req.text();
    if (exceedsJsonDepth(body)) return tooDeep(c);
    return fullHandler(c, new Request(c.req.raw, { body }));
  });
}

/** tRPC's answer to input nested past `MAX_JSON_DEPTH`: a 400 in its own envelope. */
function tooDeep(c: Context): Response {
  const error = new TRPCError({
    code: 'BAD_REQUEST',
    message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels`,
  });
  const shape = getErrorShape({
    config: appRouter._def._config,
    error,
    type: 'unknown',
    path: undefined,
    input: undefined,
    ctx: undefined,
  });
  return c.json({ error: shape }, 400, TRPC_HEADERS);
}

/** Each call of a (possibly batched) answer, as tRPC hands it to `responseMeta`. */
function reportCalls(
  onCallResult: NonNullable<EdgeOptions['onCallResult']>,
  paths: readonly string[] | undefined,
  data: readonly unknown[],
): void {
  data.forEach((item, index) => {
    const path = paths?.[index];
    if (!path || typeof item !== 'object' || item === null) return;
    if ('result' in item) {
      const { result } = item as { result: { data?: unknown } };
      onCallResult({ path, status: 200, output: result.data });
    } else if ('error' in item) {
      const { error } = item as { error: { data?: { httpStatus?: number } } };
      onCallResult({ path, status: error.data?.httpStatus ?? 500 });
    }
  });
}

/** Answers a single GET query, or `undefined` for anything the full handler should serve. */
function queryShortPath({ createContext, onServerError, onCallResult }: EdgeOptions) {
  const queries = new Map<string, ProcedureRun>();
  const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>;
  for (const [path, procedure] of Object.entries(procedures)) {
    if (procedure._def.type === 'query') queries.set(path, createProcedureRunner(procedure, path));
  }
  const prefix = `${TRPC_ENDPOINT}/`;

  return async (c: Context): Promise<Response | undefined> => {
    if (c.req.method !== 'GET') return undefined;
    const path = c.req.path.slice(prefix.length);
    const run = queries.get(path);
    if (!run || c.req.query('batch') !== undefined) return undefined;
    const rawInput = c.req.query('input');
    let input: unknown;
    try {
      input = rawInput === undefined ? undefined : JSON.parse(rawInput);
    } catch {
      return undefined; // tRPC words malformed input its own way
    }
    const ctx = createContext(c);
    try {
      const output = await run(ctx, input);
      onCallResult?.({ path, status: 200, output });
      return c.json({ result: { data: output } }, 200, TRPC_HEADERS);
    } catch (cause) {
      const error = getTRPCErrorFromUnknown(cause);
      const shape = getErrorShape({ config: appRouter._def._config, error, type: 'query', path, input, ctx });
      const meta = responseMetaFor([error]);
      const status = statusOf(error);
      if (status >= 500) onServerError(error, status, c);
      onCallResult?.({ path, status });
      return c.json({ error: shape }, status as 400, { ...TRPC_HEADERS, ...meta.headers });
    }
  };
}
