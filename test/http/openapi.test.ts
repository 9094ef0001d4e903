import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
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

describe('served documentation', () => {
  const h = useHarness();

  it('serves the same document at /openapi.json without authentication', async () => {
    const res = await h.request('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(await res.json()).toEqual(JSON.parse(checkedIn));
  });

  it('serves a reference page at /docs that loads /openapi.json', async () => {
    const res = await h.request('/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain('/openapi.json');
  });
});
