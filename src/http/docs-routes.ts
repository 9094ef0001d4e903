import { Scalar } from '@scalar/hono-api-reference';
import type { Hono } from 'hono';
import { buildOpenApiDocument } from './openapi.js';

/** `/openapi.json` (generated once, on first request) and the API reference page at `/docs`. */
export function mountDocsRoutes(app: Hono): void {
  let openApiDocument: string | undefined;
  app.get('/openapi.json', (c) => {
    openApiDocument ??= JSON.stringify(buildOpenApiDocument());
    return c.body(openApiDocument, 200, { 'Content-Type': 'application/json' });
  });
  app.get('/docs', Scalar({ url: '/openapi.json', pageTitle: 'Billing limits service' }));
}
