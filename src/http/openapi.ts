import { generateOpenApiDocument, type OpenAPIObject } from 'trpc-to-openapi';
import { createSchema } from 'zod-openapi';
import { headerParameters } from '../api/header-input.js';
import { appRouter } from '../api/router.js';
import type { BillingMeta } from '../api/trpc.js';
import { HttpErrorBody, ValidationErrorBody } from '../contract/errors.js';
import {
  LIMITS_CHANGES_HEADERS,
  LimitsChangesEventStream,
  LimitsChangesInput,
  LimitsStreamMessage,
} from '../contract/limits-changes.js';
import { EVENT_PAYLOADS, EVENT_TYPES } from '../contract/outbound-webhooks.js';
import { LimitExceededBody, RenewConflictBody } from '../contract/usage.js';
import { OrbWebhookEvent, OrbWebhookHeaders, WebhookReceipt } from '../contract/webhooks.js';
import { LIMITS_CHANGES_PATH } from './limits-changes-route.js';
import { MAX_WEBHOOK_BYTES, ORB_WEBHOOK_PATH } from './orb-webhook-route.js';
import { restRoutesOf } from './rest-routes.js';

const WORKER_SCHEME = 'workerToken';
const ADMIN_SCHEME = 'adminToken';

interface JsonSchemaObject {
  properties?: Record<string, unknown>;
  required?: string[];
}

interface OperationObject {
  requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonSchemaObject }> };
  parameters?: { in: string; name: string }[];
  responses?: Record<string, { description?: string; content?: unknown }>;
}

type ConflictBody = BillingMeta['conflictBody'];

/** The body schema of an error status: FastAPI's validation list, a 409's own body, else `{detail}`. */
function errorSchemaOf(status: string, conflictBody: ConflictBody): string {
  if (status === '422') return 'HTTPValidationError';
  return status === '409' && conflictBody ? conflictBody : 'HTTPError';
}

function errorResponse(status: string, description: string, conflictBody: ConflictBody) {
  const schema = errorSchemaOf(status, conflictBody);
  const content = { 'application/json': { schema: { $ref: `#/components/schemas/${schema}` } } };
  if (status !== '401') return { description, content };
  const challenge = { description: 'Always `Bearer`.', schema: { type: 'string', const: 'Bearer' } };
  return { description, headers: { 'WWW-Authenticate': challenge }, content };
}

/** trpc-to-openapi's fixed `{message, code, issues}` error schemas, which none of our routes answer with. */
const GENERATED_ERROR_SCHEMA = /^error\./;

const httpError = (description: string) => ({
  description,
  content: { 'application/json': { schema: HttpErrorBody } },
});

/**
 * The webhook is a Hono route (its signature covers the raw bytes), documented from the same zod
 * schemas. It takes no bearer token: Orb signs each delivery instead. That is stated as
 * `security: []` with the scheme in words, not as an `apiKey` scheme: an API key is a value the
 * caller holds and sends as is, which is what client generators and the docs page's "Authorize"
 * dialog would ask for — but the signature is computed per request from the body and the
 * timestamp, both already documented as header parameters.
 */
const orbWebhookOperation = {
  operationId: 'receiveOrbWebhook',
  summary: 'Orb subscription events (signed)',
  description:
    'Enabled when `ORB_WEBHOOK_SECRET` is set. No bearer token: Orb signs each delivery, and the signature is ' +
    'checked on the raw body before it is parsed. `X-Orb-Signature` carries one or more space-separated ' +
    '`v1=<hex>` entries; one must be the lower-case hex HMAC-SHA256, keyed with `ORB_WEBHOOK_SECRET` (its UTF-8 ' +
    'bytes as is), of `v1:` + the `X-Orb-Timestamp` value + `:` + the raw body. The timestamp must be within 5 ' +
    "minutes of the server's clock, either way. A delivery that fails either check is refused with 400.\n\n" +
    '`subscription.created`, `.started` and `.plan_changed` put the customer (`external_customer_id`) on the plan ' +
    'whose Orb external plan id matches; `subscription.ended` puts it on the default plan. Each event id is applied once.',
  tags: ['webhooks'],
  security: [],
  requestParams: { header: OrbWebhookHeaders },
  requestBody: { required: true, content: { 'application/json': { schema: OrbWebhookEvent } } },
  responses: {
    200: {
      description: 'Received: what was done',
      content: { 'application/json': { schema: WebhookReceipt } },
    },
    400: httpError(
      'Missing or bad signature headers, a timestamp outside ±5 minutes, no matching signature, or a body that is not an event',
    ),
    // As the admin routes document theirs: the route exists only when configured.
    404: httpError('Webhook off: `ORB_WEBHOOK_SECRET` is not set'),
    413: httpError(`Body larger than ${MAX_WEBHOOK_BYTES} bytes`),
    503: httpError('Limits store unavailable: nothing was recorded, Orb retries'),
  },
};

/** The Standard Webhooks headers every outbound event is sent with. */
const SIGNED_EVENT_HEADERS = [
  ['webhook-id', "The event's id: the same on every attempt of it (deduplicate on it)."],
  ['webhook-timestamp', 'Unix seconds of this attempt.'],
  [
    'webhook-signature',
    '`v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`, keyed with the endpoint\'s ' +
      'secret (the base64 after `whsec_`); verify with a Standard Webhooks library.',
  ],
] as const;

const workerError = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/HTTPError' } } },
});

/**
 * The change stream is a Hono route over the `billing.limitsChanges` subscription (`trpc-to-openapi`
 * documents no subscriptions), documented from the same schemas: its input as header parameters,
 * each message's data as the `LimitsStreamMessage` component.
 */
const limitsChangesOperation = {
  operationId: 'streamBillingLimitsChanges',
  summary: 'Every change of tenants’ limits, live (Server-Sent Events)',
  description:
    "A `text/event-stream` of every committed change of a tenant's effective limits, from any replica, in " +
    '`sequence` order. Each event is `id: <sequence>`, `event: <type>`, `data: <JSON>` (see the ' +
    '`LimitsStreamMessage` schema: `type` is the event name, `data` its data):\n\n' +
    '- `ready`, first on every connection: `{"sequence", "resumed"}` — where the stream continues from; ' +
    '`resumed: false` means changes may have been missed (a new stream, or a `Last-Event-ID` no longer ' +
    'retained): refetch the limits you hold.\n' +
    "- `limits.changed`: the `limits.changed` webhook's data (`LimitsChangedData`).\n\n" +
    'A comment (`: heartbeat`) every 15 s while nothing changes. `Last-Event-ID` (which an `EventSource` ' +
    'resends when it reconnects) replays the changes retained since (`BILLING_EVENT_RETENTION_DAYS`). ' +
    'The same stream is the tRPC subscription `billing.limitsChanges`.',
  tags: ['billing'],
  security: [{ [WORKER_SCHEME]: [] }],
  requestParams: { header: headerParameters(LimitsChangesInput, LIMITS_CHANGES_HEADERS) },
  responses: {
    200: {
      description: 'The stream: `ready`, then each change as it commits',
      content: {
        'text/event-stream': {
          schema: {
            ...createSchema(LimitsChangesEventStream).schema,
            // Each event's name and data, typed: what a generator can make types of (OpenAPI 3.2
            // has `itemSchema` for it; 3.1 has JSON Schema's `contentSchema`).
            contentSchema: { $ref: '#/components/schemas/LimitsStreamMessage' },
          },
        },
      },
    },
    401: {
      ...workerError('Unauthorized'),
      headers: {
        'WWW-Authenticate': { description: 'Always `Bearer`.', schema: { type: 'string', const: 'Bearer' } },
      },
    },
    404: workerError('No store (header plan source): there are no changes to follow'),
    422: {
      description: 'Validation Error',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/HTTPValidationError' } } },
    },
    503: workerError('Limits store unavailable'),
  },
};

/**
 * What the service POSTs to the endpoints registered with `POST /admin/webhook-endpoints`: the
 * document's `webhooks` (OpenAPI 3.1), one per event type, so that a receiver's types can be
 * generated like a client's.
 */
function outboundWebhooks(schemas: Record<string, unknown>) {
  return Object.fromEntries(
    EVENT_TYPES.map((type) => {
      // As the service sends it (output), its named parts in the components beside the routes'.
      const { schema, components } = createSchema(EVENT_PAYLOADS[type], { io: 'output' });
      for (const [name, component] of Object.entries(components)) schemas[name] ??= component;
      const operation = {
        operationId: `on${type.replace(/(^|\.)(\w)/g, (_, __, letter: string) => letter.toUpperCase())}`,
        summary: `\`${type}\`, signed the Standard Webhooks way`,
        tags: ['webhooks out'],
        // No bearer token: the receiver checks the signature (see the headers), as we check Orb's.
        security: [],
        parameters: SIGNED_EVENT_HEADERS.map(([name, description]) => ({
          name,
          in: 'header' as const,
          required: true,
          description,
          schema: { type: 'string' as const },
        })),
        requestBody: { required: true, content: { 'application/json': { schema } } },
        responses: {
          '2XX': { description: 'Delivered' },
          '410': { description: 'Gone: the endpoint is disabled, nothing more is sent to it' },
          default: { description: 'Retried with backoff for about 24 hours, then given up' },
        },
      };
      return [type, { post: operation }];
    }),
  );
}

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
    license: { name: 'MIT', identifier: 'MIT' },
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
    defs: {
      HTTPError: HttpErrorBody,
      HTTPValidationError: ValidationErrorBody,
      LimitExceeded: LimitExceededBody,
      RenewConflict: RenewConflictBody,
    },
    paths: {
      [ORB_WEBHOOK_PATH]: { post: orbWebhookOperation },
      [LIMITS_CHANGES_PATH]: { get: limitsChangesOperation },
    },
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
    if (route.meta.optionalBody && operation.requestBody) operation.requestBody.required = false;
    for (const media of Object.values(operation.requestBody?.content ?? {})) {
      const schema = media.schema;
      if (!schema?.properties) continue;
      for (const field of headerFields) delete schema.properties[field];
      schema.required = schema.required?.filter((field) => !headerFields.has(field));
    }
    const { successStatus } = route.meta;
    const success = operation.responses?.['200'];
    if (successStatus && success && operation.responses) {
      delete operation.responses['200'];
      operation.responses = {
        [String(successStatus)]:
          successStatus === 204 ? { description: success.description ?? 'No content' } : success,
        ...operation.responses,
      };
    }
    // trpc-to-openapi keeps one description per status for the whole document; each route's own
    // words are in its meta.
    const described = route.meta.openapi?.errorResponses as Record<string, string> | undefined;
    for (const [status, response] of Object.entries(operation.responses ?? {})) {
      if (Number(status) < 300) continue;
      const description = described?.[status] ?? response.description ?? '';
      operation.responses = {
        ...operation.responses,
        [status]: errorResponse(status, description, route.meta.conflictBody),
      };
    }
  }
  const schemas = document.components?.schemas ?? {};
  for (const name of Object.keys(schemas)) {
    if (GENERATED_ERROR_SCHEMA.test(name)) delete schemas[name];
  }
  // The stream's messages, as the service sends them, named in the components (the stream's
  // description points there): no route's body carries them for the generator to find.
  const { components } = createSchema(LimitsStreamMessage, { io: 'output' });
  for (const [name, component] of Object.entries(components)) schemas[name] ??= component;
  return { ...document, webhooks: outboundWebhooks(schemas) };
}

/** The checked-in form of the document: stable two-space JSON with a final newline. */
export function serializeOpenApiDocument(): string {
  return `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`;
}
