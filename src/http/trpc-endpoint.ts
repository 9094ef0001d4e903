import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import type { Hono } from 'hono';
import type { BillingContext } from '../api/context.js';
import { domainStatusOf } from '../api/errors.js';
import { appRouter } from '../api/router.js';

export const TRPC_ENDPOINT = '/trpc';

/**
 * tRPC for TypeScript callers, without a data transformer so that
 * `GET /trpc/billing.limits?input=<json>` works from any HTTP client too.
 */
export function mountTrpcEndpoint(
  app: Hono,
  createContext: (authorization: string | undefined) => BillingContext,
  onUnexpectedError: (error: unknown) => void,
): void {
  app.all(`${TRPC_ENDPOINT}/*`, (c) =>
    fetchRequestHandler({
      endpoint: TRPC_ENDPOINT,
      req: c.req.raw,
      router: appRouter,
      createContext: ({ req }) => createContext(req.headers.get('authorization') ?? undefined),
      responseMeta({ errors }) {
        // Same challenge as the REST route, so HTTP clients on either path see a standard 401.
        const unauthorized = errors.some((error) => error.code === 'UNAUTHORIZED');
        const status = errors.length === 1 ? domainStatusOf(errors[0]) : undefined;
        return {
          ...(status ? { status } : {}),
          ...(unauthorized ? { headers: { 'WWW-Authenticate': 'Bearer' } } : {}),
        };
      },
      onError({ error }) {
        if (error.code === 'INTERNAL_SERVER_ERROR' && domainStatusOf(error) === undefined)
          onUnexpectedError(error);
      },
    }),
  );
}
