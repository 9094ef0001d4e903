import type { Context, Hono } from 'hono';
import type { OpenApiMeta } from 'trpc-to-openapi';
import type { BillingContext } from '../api/context.js';
import { type FastApiFailure, toFastApiFailure } from '../api/errors.js';
import { createProcedureRunner } from '../api/procedure-runner.js';
import { type AppRouter, appRouter } from '../api/router.js';
import type { BillingMeta } from '../api/trpc.js';
import type { LocateField } from '../api/validation-issues.js';

type RestMeta = OpenApiMeta<BillingMeta>;

export interface RestRoute {
  method: NonNullable<RestMeta['openapi']>['method'];
  /** The OpenAPI path, e.g. `/billing/limits` or `/admin/tenants/{tenantId}`. */
  path: `/${string}`;
  procedurePath: string;
  procedure: unknown;
  meta: RestMeta;
}

/** Every procedure that declares `meta.openapi`: the REST surface, derived, never hand-written. */
export function restRoutesOf(router: AppRouter = appRouter): RestRoute[] {
  const routes: RestRoute[] = [];
  const procedures = router._def.procedures as unknown as Record<string, { _def: { meta?: RestMeta } }>;
  for (const [procedurePath, procedure] of Object.entries(procedures)) {
    const meta = procedure._def.meta;
    if (!meta?.openapi || meta.openapi.enabled === false) continue;
    routes.push({ method: meta.openapi.method, path: meta.openapi.path, procedurePath, procedure, meta });
  }
  return routes;
}

const PATH_PARAMETER = /\{(\w+)\}/g;

function pathParametersOf(path: string): string[] {
  return [...path.matchAll(PATH_PARAMETER)].map((match) => match[1] ?? '');
}

export interface RestHandlerOptions {
  createContext(authorization: string | undefined): BillingContext;
  onUnexpectedError(error: unknown, context: Context): void;
}

const BEARER_CHALLENGE = { 'WWW-Authenticate': 'Bearer' } as const;

export function failureResponse(c: Context, failure: FastApiFailure): Response {
  return c.json(
    { detail: failure.detail },
    failure.status as 401,
    failure.bearerChallenge ? BEARER_CHALLENGE : undefined,
  );
}

/**
 * Serves each procedure's REST route by running the procedure itself (same middleware, same zod
 * input and output schemas); `trpc-to-openapi` only generates the document.
 * Its own handler would build a router map and proxy a `Request` on every call (DESIGN.md §7).
 */
export function mountRestRoutes(app: Hono, options: RestHandlerOptions): void {
  for (const route of restRoutesOf()) {
    const { method, path, procedurePath, procedure, meta } = route;
    const pathParameters = pathParametersOf(path);
    const headerFields = Object.entries(meta.inputHeaders ?? {});
    if (method !== 'GET' && method !== 'DELETE') {
      // Request bodies arrive with the first procedure that needs one, with their own 413/422 handling.
      throw new Error(`${method} ${path}: REST routes with a request body are not supported yet`);
    }
    const run = createProcedureRunner(procedure, procedurePath);
    const headerOf = new Map(headerFields);
    const locate: LocateField = ([field, ...rest]) => {
      const name = String(field);
      const header = headerOf.get(name);
      if (header) return ['header', header];
      if (pathParameters.includes(name)) return ['path', name];
      return ['query', name, ...rest.map(String)];
    };

    app.on(method, path.replace(PATH_PARAMETER, ':$1'), async (c) => {
      const input: Record<string, unknown> = { ...c.req.query() };
      // A header-bound field comes from its header only, as in the original; never from the query string.
      for (const [field, header] of headerFields) {
        const value = c.req.header(header);
        if (value === undefined) delete input[field];
        else input[field] = value;
      }
      for (const name of pathParameters) input[name] = c.req.param(name);
      try {
        return c.json(await run(options.createContext(c.req.header('authorization')), input));
      } catch (error) {
        const failure = toFastApiFailure(error, input, locate);
        if (failure.status >= 500) options.onUnexpectedError(error, c);
        return failureResponse(c, failure);
      }
    });
  }
}
