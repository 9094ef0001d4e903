import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../../src/contract/outbound-webhooks.js';
import { buildOpenApiDocument, serializeOpenApiDocument } from '../../src/http/openapi.js';
import { useHarness } from '../support/harness.js';

const checkedIn = readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8');

interface Parameter {
  in: string;
  name: string;
  required?: boolean;
  schema: { default?: unknown; $ref?: string; enum?: unknown[] };
}

describe('openapi.json', () => {
  it('is what `npm run openapi` generates from the router (run it after changing a procedure)', () => {
    expect(checkedIn).toBe(serializeOpenApiDocument());
  });

  it('is a valid OpenAPI 3 document', async () => {
    const result = await new Validator().validate(JSON.parse(checkedIn));
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
  });

  const document = buildOpenApiDocument();
  const operation = document.paths?.['/billing/limits']?.get;
  const parameters = (operation?.parameters ?? []) as Parameter[];
  const components = document.components?.schemas ?? {};

  it('documents the two headers the Engine sends, and no query parameters', () => {
    expect(parameters.map((p) => `${p.in}:${p.name}`)).toEqual(['header:tenant-id', 'header:x-plan-type']);
    const [tenant, plan] = parameters;
    expect(tenant?.required).toBe(true);
    expect(plan?.required ?? false).toBe(false);
    expect(plan?.schema.default).toBe('free');
    expect(plan?.schema.$ref).toBe('#/components/schemas/PlanType');
    expect(components['PlanType']).toMatchObject({ enum: ['free', 'growth', 'enterprise'] });
  });

  it('declares the bearer scheme and requires it', () => {
    expect(document.components?.securitySchemes?.['workerToken']).toMatchObject({
      type: 'http',
      scheme: 'bearer',
    });
    expect(operation?.security).toEqual([{ workerToken: [] }]);
  });

  it('describes the 200, 401 and 422 bodies in the shapes callers get', () => {
    const responses = operation?.responses ?? {};
    const schemaOf = (status: string) => responses[status]?.content?.['application/json']?.schema;
    expect(schemaOf('200')).toEqual({ $ref: '#/components/schemas/BillingLimitsResponse' });
    expect(schemaOf('401')).toEqual({ $ref: '#/components/schemas/HTTPError' });
    expect(schemaOf('422')).toEqual({ $ref: '#/components/schemas/HTTPValidationError' });
    expect(schemaOf('500')).toEqual({ $ref: '#/components/schemas/HTTPError' });
    expect(responses['401']?.headers?.['WWW-Authenticate']).toBeDefined();
    expect(components['HTTPError']).toMatchObject({ required: ['detail'] });
    expect(components['BillingLimits']).toMatchObject({
      required: ['deployments', 'self_hosted_workers', 'plan_type'],
    });
    expect(Object.keys(components).filter((name) => name.startsWith('error.'))).toEqual([]);
  });

  it("describes each route's errors in its own words, and a 409 by what it answers", () => {
    const responsesOf = (path: string, method: 'get' | 'put' | 'post') =>
      (document.paths?.[path]?.[method]?.responses ?? {}) as Record<
        string,
        { description?: string; content?: Record<string, { schema?: unknown }> }
      >;
    const reserve = responsesOf('/billing/reservations', 'post');
    expect(reserve['409']).toMatchObject({
      description: 'Limit exceeded',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/LimitExceeded' } } },
    });
    const setPlan = responsesOf('/admin/plans/{planId}', 'put');
    expect(setPlan['409']).toMatchObject({
      description: 'Orb plan id already mapped to another plan',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/HTTPError' } } },
    });
    expect(setPlan['404']?.description).toBe('Admin API off');
    expect(responsesOf('/admin/tenants/{tenantId}', 'get')['404']?.description).toBe('Tenant not found');
  });
});

describe('openapi.json webhooks: what the service sends to registered endpoints', () => {
  const document = buildOpenApiDocument() as ReturnType<typeof buildOpenApiDocument> & {
    webhooks?: Record<string, { post?: Record<string, unknown> }>;
  };
  const schemas = (document.components?.schemas ?? {}) as Record<
    string,
    { properties?: Record<string, unknown> }
  >;

  it.each(EVENT_TYPES.map((type) => [type]))(
    '%s: a signed POST whose body is its payload, no bearer token',
    (type) => {
      const operation = document.webhooks?.[type]?.post;
      expect(operation).toMatchObject({
        security: [],
        requestBody: { required: true },
        responses: { '2XX': expect.any(Object), '410': expect.any(Object), default: expect.any(Object) },
      });
      const parameters = operation?.['parameters'] as Parameter[];
      expect(parameters.map((p) => `${p.in}:${p.name}:${p.required}`)).toEqual([
        'header:webhook-id:true',
        'header:webhook-timestamp:true',
        'header:webhook-signature:true',
      ]);
      const body = operation?.['requestBody'] as { content: Record<string, { schema: { $ref: string } }> };
      const name = body.content['application/json']?.schema.$ref.replace('#/components/schemas/', '') ?? '';
      expect(schemas[name]?.properties?.['type']).toEqual({ type: 'string', const: type });
      expect(Object.keys(schemas[name]?.properties ?? {})).toEqual(['type', 'timestamp', 'data']);
    },
  );

  it('lists exactly the event types an endpoint can take', () => {
    expect(Object.keys(document.webhooks ?? {})).toEqual([...EVENT_TYPES]);
    expect(schemas['EventType']).toMatchObject({ enum: [...EVENT_TYPES] });
  });
});

describe('served documentation', () => {
  const h = useHarness();
  // swagger-ui-dist as npm installed it for this repository; its version names the URL of its files.
  const swaggerUiDist = new URL('../../node_modules/swagger-ui-dist/', import.meta.url);
  const packageFile = (name: string) => readFileSync(new URL(name, swaggerUiDist));
  const { version } = JSON.parse(packageFile('package.json').toString()) as { version: string };
  const assets = `/docs/assets/${version}`;
  const policy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  const docsHeadersOf = (res: Response) => ({
    status: res.status,
    'content-type': res.headers.get('content-type'),
    'cache-control': res.headers.get('cache-control'),
    'content-security-policy': res.headers.get('content-security-policy'),
    'x-content-type-options': res.headers.get('x-content-type-options'),
  });
  const docsHeaders = (contentType: string, cacheControl: string) => ({
    status: 200,
    'content-type': contentType,
    'cache-control': cacheControl,
    'content-security-policy': policy,
    'x-content-type-options': 'nosniff',
  });

  it('serves the same document at /openapi.json without authentication', async () => {
    const res = await h.request('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(await res.json()).toEqual(JSON.parse(checkedIn));
  });

  it('serves a page at /docs that loads only files of this origin and runs no inline script', async () => {
    const res = await h.request('/docs');
    expect(docsHeadersOf(res)).toEqual(docsHeaders('text/html; charset=utf-8', 'no-cache'));
    const page = await res.text();
    expect(page).toContain('<title>Billing limits service — API reference</title>');
    const scripts = [...page.matchAll(/<script\b([^>]*)>([^<]*)<\/script>/g)];
    expect(scripts.map(([, attributes]) => /\bsrc="([^"]+)"/.exec(attributes ?? '')?.[1])).toEqual([
      `${assets}/swagger-ui-bundle.js`,
      '/docs/reference.js',
    ]);
    expect(scripts.map(([, , body]) => body)).toEqual(['', '']);
    expect(page).toContain(`<link rel="stylesheet" href="${assets}/swagger-ui.css">`);
    const urls = [...page.matchAll(/\b(?:src|href)="([^"]*)"/g)].map(([, url]) => url);
    expect(urls.length).toBeGreaterThan(3);
    expect(urls.filter((url) => !/^\/[^/]/.test(url ?? ''))).toEqual([]);
  });

  it('configures Swagger UI from a file of its own: /openapi.json, no validator, no ?url= override', async () => {
    const res = await h.request('/docs/reference.js');
    expect(docsHeadersOf(res)).toEqual(docsHeaders('text/javascript; charset=utf-8', 'no-cache'));
    const script = await res.text();
    expect(script).toContain("url: '/openapi.json',");
    expect(script).toContain('validatorUrl: null,');
    expect(script).toContain('queryConfigEnabled: false,');
  });

  it.each([
    ['swagger-ui.css', 'text/css; charset=utf-8'],
    ['swagger-ui-bundle.js', 'text/javascript; charset=utf-8'],
    ['favicon-32x32.png', 'image/png'],
  ])(
    "serves swagger-ui-dist's %s under its version, byte for byte, cacheable for a year",
    async (name, type) => {
      const res = await h.request(`${assets}/${name}`);
      expect(docsHeadersOf(res)).toEqual(docsHeaders(type, 'public, max-age=31536000, immutable'));
      const served = Buffer.from(await res.arrayBuffer());
      const installed = packageFile(name);
      expect(served.length).toBe(installed.length);
      expect(served.equals(installed)).toBe(true);
    },
  );

  it('answers HEAD as GET, without the body', async () => {
    for (const [path, type, cache] of [
      ['/docs', 'text/html; charset=utf-8', 'no-cache'],
      [
        `${assets}/swagger-ui-bundle.js`,
        'text/javascript; charset=utf-8',
        'public, max-age=31536000, immutable',
      ],
    ] as const) {
      const res = await h.request(path, { method: 'HEAD' });
      expect(docsHeadersOf(res)).toEqual(docsHeaders(type, cache));
      expect(await res.text()).toBe('');
    }
  });

  it.each([
    '/docs/',
    '/docs/index.html',
    '/docs/swagger-ui.css',
    `${assets}/index.html`,
    `${assets}/swagger-ui.js`,
    `${assets}/swagger-ui-bundle.js.map`,
    '/docs/assets/0.0.1/swagger-ui-bundle.js',
    '/docs/assets/swagger-ui-bundle.js',
  ])('answers 404 {"detail":"Not Found"} for %s', async (path) => {
    const res = await h.request(path);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ detail: 'Not Found' });
  });
});
