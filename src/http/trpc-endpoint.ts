import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import {
  getErrorShape,
  getTRPCErrorFromUnknown,
  type TRPCError,
} from '@trpc/server/unstable-core-do-not-import';
import type { Context, Hono } from 'hono';
import type { BillingContext } from '../api/context.js';
import { domainStatusOf } from '../api/errors.js';
import { createProcedureRunner, type ProcedureRun } from '../api/procedure-runner.js';
import { appRouter } from '../api/router.js';

export const TRPC_ENDPOINT = '/trpc';

type CreateContext = (authorization: string | undefined) => BillingContext;

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

function isUnexpected(error: TRPCError): boolean {
  return error.code === 'INTERNAL_SERVER_ERROR' && domainStatusOf(error) === undefined;
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
  createContext: CreateContext,
  onUnexpectedError: (error: unknown) => void,
  { shortPath = true }: { shortPath?: boolean } = {},
): void {
  const fullHandler = (c: Context) =>
    fetchRequestHandler({
      endpoint: TRPC_ENDPOINT,
      req: c.req.raw,
      router: appRouter,
      createContext: ({ req }) => createContext(req.headers.get('authorization') ?? undefined),
      responseMeta: ({ errors }) => responseMetaFor(errors),
      onError({ error }) {
        if (isUnexpected(error)) onUnexpectedError(error);
      },
    });
  const answerQuery = shortPath ? queryShortPath(createContext, onUnexpectedError) : undefined;
  // One route, so that a request runs one handler (Hono composes several into a slower chain).
  app.all(`${TRPC_ENDPOINT}/*`, async (c) => (await answerQuery?.(c)) ?? fullHandler(c));
}

/** Answers a single GET query, or `undefined` for anything the full handler should serve. */
function queryShortPath(createContext: CreateContext, onUnexpectedError: (error: unknown) => void) {
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
    const ctx = createContext(c.req.header('authorization'));
    try {
      return c.json({ result: { data: await run(ctx, input) } }, 200, TRPC_HEADERS);
    } catch (cause) {
      const error = getTRPCErrorFromUnknown(cause);
      if (isUnexpected(error)) onUnexpectedError(error);
      const shape = getErrorShape({ config: appRouter._def._config, error, type: 'query', path, input, ctx });
      const meta = responseMetaFor([error]);
      const status = meta.status ?? getHTTPStatusCodeFromError(error);
      return c.json({ error: shape }, status as 400, { ...TRPC_HEADERS, ...meta.headers });
    }
  };
}
