import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Context } from 'hono';
import { buildOpenApiDocument } from './openapi.js';
import type { ObservedRoutes } from './request-observer.js';

/**
 * Everything `/docs` loads comes from this origin; nothing may leave it. As found in Chromium with
 * every operation, schema and dialog opened (test/http/docs-page.test.ts): styles need no
 * `'unsafe-inline'` (Swagger UI sets its inline styles through the CSSOM, React's `style`
 * property, which CSP does not govern); `data:` images are the SVG icons inlined in
 * swagger-ui.css, `'self'` ones the favicon; `connect-src 'self'` fetches /openapi.json and runs
 * "Try it out"; fonts stay under `default-src 'none'` (Swagger UI uses system fonts); the
 * Authorize dialog's form is handled by script, so `form-action 'none'` holds.
 */
const DOCS_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Where the page and its files live. */
const DOCS_PATH = '/docs';
const INITIALIZER_PATH = `${DOCS_PATH}/reference.js`;
const ASSETS_PATH = `${DOCS_PATH}/assets`;

/** The page and the initializer change with the service: browsers revalidate them every time. */
const REVALIDATE = 'no-cache';
/** swagger-ui-dist's files sit under its version: a URL's bytes never change, so browsers keep them a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** The files of swagger-ui-dist the page loads, and the types they are served as. */
const SWAGGER_UI_FILES = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

/** A version becomes a path segment of a route: no `/`, nothing to escape, nothing Hono reads as a pattern. */
const SAFE_VERSION = /^\d+\.\d+\.\d+[\w.+-]*$/;

/**
 * Swagger UI's configuration, served as a file of ours so the page runs no inline script.
 * `BaseLayout` (the default) has no top bar with a URL box; `queryConfigEnabled: false` keeps a
 * `?url=` in a link from loading another document into our origin; `validatorUrl: null` removes
 * the badge that would send the document to validator.swagger.io. Operations start collapsed under
 * their tags (`list`), deep links (`/docs#/billing/getBillingLimits`) open one, and the schemas at
 * the bottom start collapsed, so the page reads as a table of contents.
 */
const INITIALIZER = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  validatorUrl: null,
  queryConfigEnabled: false,
  deepLinking: true,
  docExpansion: 'list',
  defaultModelsExpandDepth: 0,
  defaultModelExpandDepth: 2,
  displayRequestDuration: true,
});
`;

function pageOf(assets: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Billing limits service — API reference</title>
<link rel="stylesheet" href="${assets}/swagger-ui.css">
<link rel="icon" type="image/png" sizes="32x32" href="${assets}/favicon-32x32.png">
<script defer src="${assets}/swagger-ui-bundle.js"></script>
<script defer src="${INITIALIZER_PATH}"></script>
</head>
<body>
<div id="swagger-ui"></div>
<noscript>The API reference needs JavaScript. The OpenAPI document is at <a href="/openapi.json">/openapi.json</a>.</noscript>
</body>
</html>
`;
}

export interface DocsOptions {
  /** The swagger-ui-dist package directory the page's files are read from (default: where Node resolves it). */
  swaggerUiDirectory?: string;
}

/**
 * `/openapi.json` (generated once, on first request) and the API reference at `/docs`: Swagger UI,
 * its files served from swagger-ui-dist by this service, so the page works with no internet, and a
 * Content-Security-Policy that lets nothing load from, or send to, another origin.
 */
export function mountDocsRoutes(routes: ObservedRoutes, options: DocsOptions = {}): void {
  let openApiDocument: string | undefined;
  routes.on('GET', '/openapi.json', (c) => {
    openApiDocument ??= JSON.stringify(buildOpenApiDocument());
    return c.body(openApiDocument, 200, { 'Content-Type': 'application/json' });
  });

  const directory = options.swaggerUiDirectory ?? installedSwaggerUiDirectory();
  const assets = `${ASSETS_PATH}/${swaggerUiVersionIn(directory)}`;
  const page = pageOf(assets);
  routes.on('GET', DOCS_PATH, (c) => docsFile(c, page, 'text/html; charset=utf-8', REVALIDATE));
  routes.on('GET', INITIALIZER_PATH, (c) =>
    docsFile(c, INITIALIZER, 'text/javascript; charset=utf-8', REVALIDATE),
  );
  for (const [name, contentType] of Object.entries(SWAGGER_UI_FILES)) {
    const path = join(directory, name);
    routes.on('GET', `${assets}/${name}`, async (c) =>
      docsFile(c, await packageFile(path), contentType, IMMUTABLE),
    );
  }
}

function docsFile(
  c: Context,
  body: string | Uint8Array<ArrayBuffer>,
  contentType: string,
  cacheControl: string,
) {
  return c.body(body, 200, {
    'Content-Type': contentType,
    'Cache-Control': cacheControl,
    'Content-Security-Policy': DOCS_CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
  });
}

/**
 * Through module resolution, so it is found wherever npm put it (hoisted or not, in dist/ or
 * src/). Not the package's main module: that `require`s the whole 1.7 MB bundle into Node.
 */
function installedSwaggerUiDirectory(): string {
  return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
}

/** The version in the package's own manifest: the URL segment that makes its files cacheable forever. */
function swaggerUiVersionIn(directory: string): string {
  const manifest = join(directory, 'package.json');
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version?: unknown };
  if (typeof version !== 'string' || !SAFE_VERSION.test(version))
    throw new Error(`mountDocsRoutes: ${manifest} has no usable version (${JSON.stringify(version)})`);
  return version;
}

/**
 * The package's files, read on first request and kept for the process's life (the installed
 * package does not change under a running server; every app of the process shares them). A read
 * that failed is forgotten, so the next request tries again rather than failing forever.
 */
const packageFiles = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();

function packageFile(path: string): Promise<Uint8Array<ArrayBuffer>> {
  let file = packageFiles.get(path);
  if (!file) {
    file = readFile(path);
    packageFiles.set(path, file);
    file.catch(() => packageFiles.delete(path));
  }
  return file;
}
