import { generateOpenApiDocument, type OpenAPIObject } from 'trpc-to-openapi';
import { appRouter } from '../api/router.js';
import { HttpErrorBody, ValidationErrorBody } from '../contract/errors.js';
import { restRoutesOf } from './rest-routes.js';

const WORKER_SCHEME = 'workerToken';
const ADMIN_SCHEME = 'adminToken';

interface OperationObject {
  parameters?: { in: string; name: string }[];
  responses?: Record<string, { description?: string; content?: unknown }>;
}

function errorResponse(status: string, description: string) {
  const schema = status === '422' ? 'HTTPValidationError' : 'HTTPError';
  const content = { 'application/json': { schema: { $ref: `#/components/schemas/${schema}` } } };
  if (status !== '401') return { description, content };
  const challenge = { description: 'Always `Bearer`.', schema: { type: 'string', const: 'Bearer' } };
  return { description, headers: { 'WWW-Authenticate': challenge }, content };
}

/** trpc-to-openapi's fixed `{message, code, issues}` error schemas, which none of our routes answer with. */
const GENERATED_ERROR_SCHEMA = /^error\./;

/**
 * The OpenAPI document, generated from the router by `trpc-to-openapi` and then corrected where
 * the generator can't know our wire: header-bound input fields are not query parameters, and
 * errors have FastAPI's `{"detail": ...}` bodies, not tRPC's `{message, code, issues}`.
 */
export function buildOpenApiDocument(): OpenAPIObject {
  const document = generateOpenApiDocument(appRouter, {
    title: 'Billing limits service',
    description:
      'Answers the Engine\'s question "what may tenant X use?". Every operation is also a tRPC procedure at `/trpc`.',
    version: '1.0.0',
    baseUrl: '/',
    securitySchemes: {
      [WORKER_SCHEME]: {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description: 'An Engine worker token: HS256, `aud` "worker", claim `ver` "1".',
      },
      [ADMIN_SCHEME]: {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description: 'An operator token: HS256 signed with `BILLING_ADMIN_SECRET`, `aud` "billing-admin".',
      },
    },
    defs: { HTTPError: HttpErrorBody, HTTPValidationError: ValidationErrorBody },
  });
  for (const route of restRoutesOf()) {
    const operation = document.paths?.[route.path]?.[route.method.toLowerCase() as 'get'] as
      | OperationObject
      | undefined;
    if (!operation) continue;
    (operation as { security?: unknown }).security = [
      { [route.meta.admin ? ADMIN_SCHEME : WORKER_SCHEME]: [] },
    ];
    const headerFields = new Set(Object.keys(route.meta.inputHeaders ?? {}));
    operation.parameters = operation.parameters?.filter(
      (parameter) => !(parameter.in === 'query' && headerFields.has(parameter.name)),
    );
    for (const [status, response] of Object.entries(operation.responses ?? {})) {
      if (status === '200') continue;
      operation.responses = {
        ...operation.responses,
        [status]: errorResponse(status, response.description ?? ''),
      };
    }
  }
  const schemas = document.components?.schemas ?? {};
  for (const name of Object.keys(schemas)) {
    if (GENERATED_ERROR_SCHEMA.test(name)) delete schemas[name];
  }
  return document;
}

/** The checked-in form of the document: stable two-space JSON with a final newline. */
export function serializeOpenApiDocument(): string {
  return `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`;
}
