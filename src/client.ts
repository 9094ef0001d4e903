import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import type { AppRouter } from './api/router.js';

export interface BillingClientOptions {
  /** Where the service runs, e.g. `http://127.0.0.1:8000`. */
  url: string;
  /** A worker token, or a function returning the current one (for rotation). */
  token: string | (() => string | Promise<string>);
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
}

/**
 * A typed tRPC client for TypeScript callers: inputs and outputs come from the service's own
 * zod schemas.
 *
 * @example
 * const billing = createBillingClient({ url: 'http://127.0.0.1:8000', token });
 * const { limits } = await billing.billing.limits.query({ tenantId: 'org-123', planType: 'growth' });
 */
export function createBillingClient(options: BillingClientOptions) {
  const { token } = options;
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${options.url.replace(/\/+$/, '')}/trpc`,
        fetch: options.fetch,
        async headers() {
          return { authorization: `Bearer ${typeof token === 'string' ? token : await token()}` };
        },
      }),
    ],
  });
}

export type BillingClient = ReturnType<typeof createBillingClient>;

/** A failed call: `data.code` is the tRPC code (`NOT_FOUND`, `CONFLICT`, …), `data.detail` the REST body's detail. */
export type BillingClientError = TRPCClientError<AppRouter>;

/**
 * Whether `error` is a failed call of a {@link BillingClient}, typed: `data.code` says what went
 * wrong as the REST status does (`NOT_FOUND` for 404, `CONFLICT` for 409, `UNPROCESSABLE_CONTENT`
 * for 422, `SERVICE_UNAVAILABLE` or `TIMEOUT` for 503), `data.httpStatus` is that status.
 *
 * @example
 * try {
 *   await billing.billing.limits.query({ tenantId: 'org-123' });
 * } catch (error) {
 *   if (isBillingClientError(error) && error.data?.code === 'NOT_FOUND') console.log(error.data.detail); // 'Tenant not found'
 * }
 */
export function isBillingClientError(error: unknown): error is BillingClientError {
  return error instanceof TRPCClientError;
}
