import { Scalar } from '@scalar/hono-api-reference';
import { Hono } from 'hono';
import type { BillingContext, BillingServices } from './api/context.js';
import { INTERNAL_SERVER_ERROR } from './api/errors.js';
import { bearerTokenFrom } from './auth/authorization-header.js';
import type { TokenClaims } from './auth/token-verifier.js';
import { createWorkerTokenVerifier } from './auth/worker-token.js';
import { buildOpenApiDocument } from './http/openapi.js';
import { mountRestRoutes } from './http/rest-routes.js';
import { mountTrpcEndpoint } from './http/trpc-endpoint.js';
import { DEFAULT_PLAN_CATALOG, type PlanCatalog } from './limits/catalog.js';
import { headerLimitsSource } from './limits/limits-source.js';

export interface BillingAppOptions {
  /** HS256 secret of the Engine's worker tokens. Required unless `disableAuth`. */
  secret?: string;
  /** Accept every request without a token. For tests and local development only. */
  disableAuth?: boolean;
  /** Where a tenant's plan comes from. `header`: trust `x-plan-type`, as the original did. */
  planSource?: 'header';
  /** The plan catalog; defaults to the original's limits. */
  catalog?: PlanCatalog;
  /** Leeway for `exp`/`nbf`/`iat` in seconds (default 0, as the original). */
  clockToleranceSeconds?: number;
  /** How many verified tokens to remember (default 10,000; 0 = verify every request). */
  tokenCacheSize?: number;
  /** Milliseconds since the epoch; tests inject their own clock. */
  now?: () => number;
  /** Called with every error that became a 500, so it reaches a log; the caller only sees `Internal Server Error`. */
  onUnexpectedError?: (error: unknown) => void;
}

const AUTH_DISABLED: TokenClaims = Object.freeze({ sub: 'auth-disabled' });

function workerAuthenticator(options: BillingAppOptions): BillingServices['authenticateWorker'] {
  const verifyWorkerToken = createWorkerTokenVerifier({
    secret: options.secret ?? '',
    clockToleranceSeconds: options.clockToleranceSeconds ?? 0,
    cacheSize: options.tokenCacheSize ?? 10_000,
    now: options.now ?? Date.now,
  });
  return (authorization) => verifyWorkerToken(bearerTokenFrom(authorization));
}

function reportToStderr(error: unknown): void {
  console.error('billing: unexpected error', error);
}

/**
 * The billing limits service as a Hono app: REST routes derived from the procedures' OpenAPI
 * meta, tRPC at `/trpc`, the OpenAPI document and a reference page. No `listen` here: mount it
 * in any Hono or Node server (`src/server.ts` is one).
 *
 * @example
 * const app = createBillingApp({ secret: process.env.BILLING_JWT_SECRET });
 * serve({ fetch: app.fetch, port: 8000 });
 */
export function createBillingApp(options: BillingAppOptions): Hono {
  const { disableAuth = false, onUnexpectedError = reportToStderr } = options;
  if (!disableAuth && !options.secret) {
    throw new Error('createBillingApp: a worker-token secret is required unless disableAuth is set');
  }
  const services: BillingServices = {
    authenticateWorker: disableAuth ? async () => AUTH_DISABLED : workerAuthenticator(options),
    limits: headerLimitsSource(options.catalog ?? DEFAULT_PLAN_CATALOG),
  };
  const createContext = (authorization: string | undefined): BillingContext => ({ authorization, services });

  const app = new Hono();
  mountRestRoutes(app, { createContext, onUnexpectedError });
  mountTrpcEndpoint(app, createContext, onUnexpectedError);

  let openApiDocument: string | undefined;
  app.get('/openapi.json', (c) => {
    openApiDocument ??= JSON.stringify(buildOpenApiDocument());
    return c.body(openApiDocument, 200, { 'Content-Type': 'application/json' });
  });
  app.get('/docs', Scalar({ url: '/openapi.json', pageTitle: 'Billing limits service' }));

  app.notFound((c) => c.json({ detail: 'Not Found' }, 404));
  app.onError((error, c) => {
    onUnexpectedError(error);
    return c.json({ detail: INTERNAL_SERVER_ERROR }, 500);
  });
  return app;
}
