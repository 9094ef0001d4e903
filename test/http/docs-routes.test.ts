/**
 * The docs routes without a browser (test/http/docs-page.test.ts renders them in Chromium): what
 * they answer, with which headers, and how they read swagger-ui-dist's files — over the installed
 * package and over a package directory of the test's own.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Hono } from 'hono';
import { beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { mountDocsRoutes } from '../../src/http/docs-routes.js';

/** The docs routes alone on a bare Hono app, a thrown error answered as the service answers it. */
function docsApp(swaggerUiDirectory?: string): Hono {
  const app = new Hono();
  mountDocsRoutes(
    {
      on: (method, path, handler) => void app.on(method as string, path, handler),
      notFound: (handler) => void app.notFound(handler),
    },
    swaggerUiDirectory === undefined ? undefined : { swaggerUiDirectory },
  );
  app.onError((_, c) => c.json({ detail: 'Internal Server Error' }, 500));
  return app;
}

const installed = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const installedVersion = (
  JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { version: string }
).version;

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

describe('/docs over the installed swagger-ui-dist', () => {
  // Built in each test: what mounting does is then part of what the test checks.
  let app: Hono;
  beforeEach(() => {
    app = docsApp();
  });
  const assets = `/docs/assets/${installedVersion}`;

  it('serves the page, which loads its files from this origin under their version', async () => {
    const res = await app.request('/docs');
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toMatch(/^<!doctype html>\n<html lang="en">/);
    expect(page).toContain('<title>Billing limits service — API reference</title>');
    expect(page).toContain(`<link rel="stylesheet" href="${assets}/swagger-ui.css">`);
    expect(page).toContain(
      `<link rel="icon" type="image/png" sizes="32x32" href="${assets}/favicon-32x32.png">`,
    );
    expect(page).toContain(`<script defer src="${assets}/swagger-ui-bundle.js"></script>`);
    expect(page).toContain('<script defer src="/docs/reference.js"></script>');
    expect(page).toContain('<div id="swagger-ui"></div>');
    expect(page).toContain('<a href="/openapi.json">/openapi.json</a>');
  });

  it.each([
    ['/docs', 'text/html; charset=utf-8', 'no-cache'],
    ['/docs/reference.js', 'text/javascript; charset=utf-8', 'no-cache'],
    [`${assets}/swagger-ui.css`, 'text/css; charset=utf-8', 'public, max-age=31536000, immutable'],
    [
      `${assets}/swagger-ui-bundle.js`,
      'text/javascript; charset=utf-8',
      'public, max-age=31536000, immutable',
    ],
    [`${assets}/favicon-32x32.png`, 'image/png', 'public, max-age=31536000, immutable'],
  ])('serves %s as %s, cached %s, under the page’s policy', async (path, contentType, cacheControl) => {
    const res = await app.request(path);
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toBe(contentType);
    expect(res.headers.get('Cache-Control')).toBe(cacheControl);
    expect(res.headers.get('Content-Security-Policy')).toBe(CSP);
    expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff');
  });

  it('serves the package’s own files, byte for byte', async () => {
    const res = await app.request(`${assets}/favicon-32x32.png`);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(readFileSync(join(installed, 'favicon-32x32.png')));
  });

  it('configures Swagger UI from a file of its own, pointed at /openapi.json', async () => {
    const script = await (await app.request('/docs/reference.js')).text();
    expect(script).toMatch(/^window\.ui = SwaggerUIBundle\(\{\n {2}url: '\/openapi\.json',/);
    expect(script).toContain('queryConfigEnabled: false');
    expect(script).toContain('validatorUrl: null');
  });

  it('serves the OpenAPI document as JSON, the same bytes on every request', async () => {
    const first = await app.request('/openapi.json');
    expect(first.headers.get('Content-Type')).toBe('application/json');
    const text = await first.text();
    expect(JSON.parse(text)).toMatchObject({ openapi: expect.stringMatching(/^3\./) });
    expect(await (await app.request('/openapi.json')).text()).toBe(text);
  });
});

describe('/docs over a swagger-ui-dist directory of its own', () => {
  /** A package directory with a manifest and a stylesheet, but no bundle (yet). */
  function swaggerUiDirectory(manifest: unknown = { version: '9.8.7' }): string {
    const directory = mkdtempSync(join(tmpdir(), 'swagger-ui-dist-'));
    onTestFinished(() => rmSync(directory, { recursive: true, force: true }));
    writeFileSync(join(directory, 'package.json'), JSON.stringify(manifest));
    writeFileSync(join(directory, 'swagger-ui.css'), 'body{color:red}');
    return directory;
  }

  it("names the files by the version in the package's manifest", async () => {
    const app = docsApp(swaggerUiDirectory({ version: '9.8.7-rc.1' }));
    expect(await (await app.request('/docs')).text()).toContain('/docs/assets/9.8.7-rc.1/swagger-ui.css');
    expect((await app.request('/docs/assets/9.8.7-rc.1/swagger-ui.css')).status).toBe(200);
    expect((await app.request('/docs/assets/5.35.0/swagger-ui.css')).status).toBe(404);
  });

  it('reads a file on its first request and keeps it for the life of the process', async () => {
    const directory = swaggerUiDirectory();
    const app = docsApp(directory);
    expect(await (await app.request('/docs/assets/9.8.7/swagger-ui.css')).text()).toBe('body{color:red}');
    writeFileSync(join(directory, 'swagger-ui.css'), 'body{color:blue}');
    expect(await (await app.request('/docs/assets/9.8.7/swagger-ui.css')).text()).toBe('body{color:red}');
    expect(await (await docsApp(directory).request('/docs/assets/9.8.7/swagger-ui.css')).text()).toBe(
      'body{color:red}',
    );
  });

  it('answers 500 while a file cannot be read, and serves it once it can', async () => {
    const directory = swaggerUiDirectory();
    const app = docsApp(directory);
    const missing = await app.request('/docs/assets/9.8.7/swagger-ui-bundle.js');
    expect(missing.status).toBe(500);
    expect(await missing.json()).toEqual({ detail: 'Internal Server Error' });

    writeFileSync(join(directory, 'swagger-ui-bundle.js'), 'window.SwaggerUIBundle = () => {};');
    const found = await app.request('/docs/assets/9.8.7/swagger-ui-bundle.js');
    expect(found.status).toBe(200);
    expect(await found.text()).toBe('window.SwaggerUIBundle = () => {};');
  });

  it.each([
    [{ version: '../../etc' }],
    [{ version: '5.35.0/x' }],
    [{ version: 5 }],
    [{ name: 'swagger-ui-dist' }],
  ])('refuses to mount a package whose version cannot name a path: %j', (manifest) => {
    expect(() => docsApp(swaggerUiDirectory(manifest))).toThrow(/has no usable version/);
  });

  it.each([
    [{ version: 5 }, '(5)'],
    [{ version: '../x' }, '("../x")'],
    [{}, '(undefined)'],
  ])('names the manifest and what it holds when refusing %j', (manifest, shown) => {
    const directory = swaggerUiDirectory(manifest);
    expect(() => docsApp(directory)).toThrow(
      `mountDocsRoutes: ${join(directory, 'package.json')} has no usable version ${shown}`,
    );
  });

  it('refuses to mount a directory without a manifest', () => {
    const directory = swaggerUiDirectory();
    rmSync(join(directory, 'package.json'));
    expect(() => docsApp(directory)).toThrow(/ENOENT/);
  });
});
