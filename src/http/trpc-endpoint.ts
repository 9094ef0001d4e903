import { TRPCError } from '@trpc/server';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import type { Context } from 'hono';
import { domainStatusOf } from '../api/errors.js';
import { errorShapeOf, type ProcedureRun, proceduresOf, trpcErrorOf } from '../api/procedures.js';
import { appRouter } from '../api/router.js';
import { deadlineExceeded } from '../domain/errors.js';
import { withBodyLimit } from './body-limit.js';
import { exceedsJsonDepth, MAX_JSON_DEPTH } from './json-depth.js';
import type { ObservedRoutes } from './request-observer.js';
import { jsonBodyOf } from './response-bytes.js';
import type { EdgeOptions } from './rest-routes.js';

export const TRPC_ENDPOINT = '/trpc';

/** The response headers tRPC's fetch adapter sets on every answer. */
const TRPC_HEADERS = { 'Content-Type': 'application/json', Vary: 'trpc-accept, accept' } as const;
const BEARER_CHALLENGE = { 'WWW-Authenticate': 'Bearer' } as const;

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
  routes: ObservedRoutes,
  options: EdgeOptions,
  { shortPath = true }: { shortPath?: boolean } = {},
): void {
  const { createContext, onServerError } = options;
  const fullHandler = (c: Context, req: Request) =>
    fetchRequestHandler({
      endpoint: TRPC_ENDPOINT,
      req,
      router: appRouter,
      createContext: () => createContext(c),
      responseMeta({ errors }) {
        // Same challenge as the REST route, so HTTP clients on either path see a standard 401.
        const unauthorized = errors.some((error) => error.code === 'UNAUTHORIZED');
        const status = errors.length === 1 && errors[0] ? domainStatusOf(errors[0]) : undefined;
        return { ...(status ? { status } : {}), ...(unauthorized ? { headers: BEARER_CHALLENGE } : {}) };
      },
      onError({ error }) {
        const status = statusOf(error);
        if (status >= 500) onServerError(error, status, c);
      },
    });
  const answerQuery = shortPath ? queryShortPath(options) : undefined;
  // Batches and mutations carry a body: bounded like every other body the service reads.
  const post = withBodyLimit(async (c) => {
    // The body is read here to check its depth, so tRPC gets a request carrying the text read.
    const body = await c.req.text();
    if (exceedsJsonDepth(body)) return tooDeep(c);
    return fullHandler(c, new Request(c.req.raw, { body }));
  });
  // One route, so that a request runs one handler (Hono composes several into a slower chain).
  routes.on(
    'ALL',
    `${TRPC_ENDPOINT}/*`,
    async (c) => {
      const input = c.req.query('input');
      if (input !== undefined && exceedsJsonDepth(input)) return tooDeep(c);
      const answered = await answerQuery?.(c, input);
      if (answered) return answered;
      if (c.req.method === 'POST') return post(c);
      return fullHandler(c, c.req.raw);
    },
    timedOut,
  );
}

/**
 * A request unanswered at its deadline: each call it carries failed as a missed deadline does
 * (`deadline_exceeded`: TIMEOUT, 503 `Request timed out`), in tRPC's envelope — one per call of a batch.
 */
function timedOut(c: Context): Response {
  const error = trpcErrorOf(deadlineExceeded());
  const paths = c.req.path.slice(TRPC_ENDPOINT.length + 1);
  const envelope = (path: string) => ({
    error: errorShapeOf(error, { type: 'unknown', path, input: undefined, ctx: undefined }),
  });
  const body = c.req.query('batch') === undefined ? envelope(paths) : paths.split(',').map(envelope);
  return c.json(body, statusOf(error) as 503, TRPC_HEADERS);
}

/** tRPC's answer to input nested past `MAX_JSON_DEPTH`: a 400 in its own envelope. */
function tooDeep(c: Context): Response {
  const error = new TRPCError({
    code: 'BAD_REQUEST',
    message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels`,
  });
  const shape = errorShapeOf(error, { type: 'unknown', path: undefined, input: undefined, ctx: undefined });
  return c.json({ error: shape }, 400, TRPC_HEADERS);
}

/** Answers a single GET query, or `undefined` for anything the full handler should serve. */
function queryShortPath({ createContext, onServerError }: EdgeOptions) {
  const queries = new Map<string, ProcedureRun>();
  for (const { path, type, run } of proceduresOf()) if (type === 'query') queries.set(path, run);
  const prefix = `${TRPC_ENDPOINT}/`;

  return async (c: Context, rawInput: string | undefined): Promise<Response | undefined> => {
    if (c.req.method !== 'GET') return undefined;
    const path = c.req.path.slice(prefix.length);
    const run = queries.get(path);
    if (!run || c.req.query('batch') !== undefined) return undefined;
    let input: unknown;
    try {
      input = rawInput === undefined ? undefined : JSON.parse(rawInput);
    } catch {
      return undefined; // tRPC words malformed input its own way
    }
    const ctx = createContext(c);
    try {
      const output = await run(ctx, input);
      const result = output === undefined ? '{}' : `{"data":${jsonBodyOf(output)}}`;
      return c.body(`{"result":${result}}`, 200, TRPC_HEADERS);
    } catch (cause) {
      const error = trpcErrorOf(cause);
      const shape = errorShapeOf(error, { type: 'query', path, input, ctx });
      const status = statusOf(error);
      if (status >= 500) onServerError(error, status, c);
      const headers = error.code === 'UNAUTHORIZED' ? { ...TRPC_HEADERS, ...BEARER_CHALLENGE } : TRPC_HEADERS;
      return c.json({ error: shape }, status as 400, headers);
    }
  };
}
