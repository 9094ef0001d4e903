import type { Context } from 'hono';
import type { BillingContext } from '../api/context.js';
import { type FastApiFailure, toFastApiFailure } from '../api/errors.js';
import { type ProcedureEntry, type ProcedureMeta, proceduresOf } from '../api/procedures.js';
import { type LocateField, locationPart } from '../api/validation-issues.js';
import type { ValidationIssue } from '../contract/errors.js';
import { withBodyLimit } from './body-limit.js';
import { exceedsJsonDepth } from './json-depth.js';
import { firstHeaderValue, hasQueryString, headerText } from './request-headers.js';
import type { ObservedRoutes, RouteHandler } from './request-observer.js';
import { jsonBodyOf } from './response-bytes.js';

export interface RestRoute {
  method: NonNullable<ProcedureMeta['openapi']>['method'];
  /** The OpenAPI path, e.g. `/billing/limits` or `/admin/tenants/{tenantId}`. */
  path: `/${string}`;
  procedure: ProcedureEntry;
  meta: ProcedureMeta;
}

/** Every procedure that declares `meta.openapi`: the REST surface, derived, never hand-written. */
export function restRoutesOf(procedures: readonly ProcedureEntry[] = proceduresOf()): RestRoute[] {
  const routes: RestRoute[] = [];
  for (const procedure of procedures) {
    const { meta } = procedure;
    if (!meta?.openapi || meta.openapi.enabled === false) continue;
    routes.push({ method: meta.openapi.method, path: meta.openapi.path, procedure, meta });
  }
  return routes;
}

const PATH_PARAMETER = /\{(\w+)\}/g;

function pathParametersOf(path: string): string[] {
  return [...path.matchAll(PATH_PARAMETER)].map((match) => match[1] ?? '');
}

/** What the HTTP adapters (REST, `/trpc`) need from the composition root. */
export interface EdgeOptions {
  /** The procedures' context for this request (its `Authorization` header, its deadline). */
  createContext(c: Context): BillingContext;
  /**
   * Every error that became a 5xx: 500 (unexpected; the caller only sees `Internal Server Error`)
   * or 503 (the store is unreachable).
   */
  onServerError(error: unknown, status: number, context: Context): void;
}

const BEARER_CHALLENGE = { 'WWW-Authenticate': 'Bearer' } as const;

export function failureResponse(c: Context, failure: FastApiFailure): Response {
  return c.json(
    { detail: failure.detail },
    failure.status as 401,
    failure.bearerChallenge ? BEARER_CHALLENGE : undefined,
  );
}

type BodyResult = { ok: true; body: Record<string, unknown> } | { ok: false; issue: ValidationIssue };

/**
 * The JSON body as FastAPI would judge it: not JSON, or not an object, are 422s of their own; so is
 * a missing one, unless every field it carries may be left out (`optional`: then it reads as `{}`,
 * as FastAPI reads a body parameter that defaults to None).
 */
async function readJsonObject(c: Context, optional: boolean): Promise<BodyResult> {
  const text = await c.req.text();
  if (text.trim() === '') {
    if (optional) return { ok: true, body: {} };
    return { ok: false, issue: { type: 'missing', loc: ['body'], msg: 'Field required', input: null } };
  }
  const invalid = (reason: string): BodyResult => ({
    ok: false,
    issue: {
      type: 'json_invalid',
      loc: ['body', 0],
      msg: 'JSON decode error',
      input: {},
      ctx: { error: reason },
    },
  });
  // pydantic's own words for JSON nested past its parser's limit.
  if (exceedsJsonDepth(text)) return invalid('recursion limit exceeded');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    return invalid(error instanceof SyntaxError ? 'Invalid JSON' : String(error));
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    const msg = 'Input should be a valid dictionary or object to extract fields from';
    return { ok: false, issue: { type: 'model_attributes_type', loc: ['body'], msg, input: body } };
  }
  return { ok: true, body: body as Record<string, unknown> };
}

/**
 * Serves each procedure's REST route by running the procedure itself (same middleware, same zod
 * input and output schemas); `trpc-to-openapi` only generates the document. The input is
 * assembled as its document describes it: query (GET, DELETE) or JSON body (PUT, POST, PATCH),
 * path parameters, and the fields `meta.inputHeaders` binds to headers.
 */
export function mountRestRoutes(routes: ObservedRoutes, options: EdgeOptions): void {
  for (const route of restRoutesOf()) {
    const { method, path, procedure, meta } = route;
    const pathParameters = pathParametersOf(path);
    const headerFields = Object.entries(meta.inputHeaders ?? {});
    const headerOf = new Map(headerFields);
    // As FastAPI: a route reads a body when its input has fields a body carries; a POST that only
    // names path parameters (a replay) needs none, and whatever is sent is not read.
    const bodyFields = procedure.inputFields.filter(
      (field) => !pathParameters.includes(field) && !headerOf.has(field),
    );
    const takesBody = method === 'POST' || method === 'PUT' || method === 'PATCH';
    const readsBody = takesBody && bodyFields.length > 0;
    const bodyOptional = meta.optionalBody === true;
    const locate: LocateField = ([field, ...rest]) => {
      const name = String(field);
      const header = headerOf.get(name);
      if (header) return ['header', header];
      if (pathParameters.includes(name)) return ['path', name];
      return [readsBody ? 'body' : 'query', name, ...rest.map(locationPart)];
    };
    const successStatus = meta.successStatus ?? 200;
    const setsHeaders = meta.openapi?.responseHeaders !== undefined;
    const honoPath = path.replace(PATH_PARAMETER, ':$1');

    const handler: RouteHandler = async (c) => {
      let input: Record<string, unknown> = {};
      let unreadableBody: ValidationIssue | undefined;
      if (readsBody) {
        const read = await readJsonObject(c, bodyOptional);
        if (read.ok) input = read.body;
        else unreadableBody = read.issue;
      } else if (takesBody) {
        await c.req.arrayBuffer(); // drained (within the body limit), not read
      } else if (hasQueryString(c)) {
        input = { ...c.req.query() };
      }
      // A header-bound field comes from its header only, as in the original; never from the query string.
      // Its bytes are read as UTF-8 when they are UTF-8, so that every tenant id is reachable.
      for (const [field, header] of headerFields) {
        const value = firstHeaderValue(c, header);
        if (value === undefined) delete input[field];
        else input[field] = headerText(value);
      }
      for (const name of pathParameters) input[name] = c.req.param(name);
      // Headers a procedure adds to its answer (`Idempotent-Replayed`), sent with a success only —
      // offered to the routes that document response headers, the others' context left as it is.
      let added: Record<string, string> | undefined;
      const context = options.createContext(c);
      const ctx: BillingContext = setsHeaders
        ? {
            ...context,
            setResponseHeader(name, value) {
              added = { ...added, [name]: value };
            },
          }
        : context;
      try {
        // An unreadable body still goes through the procedure, as `undefined`, so that authentication
        // is checked first; the input validator then refuses it and the body's own issue is reported.
        const output = await procedure.run(ctx, unreadableBody ? undefined : input);
        if (successStatus === 204) return c.body(null, 204, added);
        return c.body(
          jsonBodyOf(output),
          successStatus,
          added ? { ...added, ...JSON_CONTENT } : JSON_CONTENT,
        );
      } catch (error) {
        const failure = toFastApiFailure(error, input, locate);
        if (unreadableBody && failure.status === 422) failure.detail = [unreadableBody];
        if (failure.status >= 500) options.onServerError(error, failure.status, c);
        return failureResponse(c, failure);
      }
    };
    routes.on(method, honoPath, takesBody ? withBodyLimit(handler) : handler);
  }
}

const JSON_CONTENT = { 'Content-Type': 'application/json' } as const;

/**
 * The methods a REST path serves, for answering another method with 405 as FastAPI does. Looked
 * up only when no route matched: a catch-all route beside each path would put every request on
 * Hono's slower multi-handler path.
 */
export function allowedMethodsOf(
  routes: readonly Pick<RestRoute, 'method' | 'path'>[] = restRoutesOf(),
): (path: string) => string[] {
  const patterns = new Map<string, { pattern: RegExp; methods: string[] }>();
  for (const { path, method } of routes) {
    const entry = patterns.get(path) ?? {
      pattern: new RegExp(`^${path.replace(PATH_PARAMETER, '[^/]+')}$`),
      methods: [],
    };
    entry.methods.push(method);
    patterns.set(path, entry);
  }
  return (requestPath) =>
    [...patterns.values()].find(({ pattern }) => pattern.test(requestPath))?.methods ?? [];
}
