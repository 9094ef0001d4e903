import { Scalar } from '@scalar/hono-api-reference';
import { buildOpenApiDocument } from './openapi.js';
import type { ObservedRoutes, RouteHandler } from './request-observer.js';

/** `/openapi.json` (generated once, on first request) and the API reference page at `/docs`. */
export function mountDocsRoutes(routes: ObservedRoutes): void {
  let openApiDocument: string | undefined;
  routes.on('GET', '/openapi.json', (c) => {
    openApiDocument ??= JSON.stringify(buildOpenApiDocument());
    return c.body(openApiDocument, 200, { 'Content-Type': 'application/json' });
  });
  const reference = Scalar({ url: '/openapi.json', pageTitle: 'Billing limits service' });
  routes.on('GET', '/docs', reference as unknown as RouteHandler);
}
