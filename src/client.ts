import { createTRPCClient, httpLink } from '@trpc/client';
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
