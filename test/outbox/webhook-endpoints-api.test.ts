/**
 * The outbound webhook endpoints' admin API, every way it refuses: who may call it, what a body,
 * a path and a query may hold (the URL's SSRF refusals included), what is not there, and how an
 * endpoint's deliveries are paged. No app here sends (the harness's apps have no dispatcher): the
 * deliveries stay pending, as the events left them.
 */
import { and, asc, eq, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import type { WebhookDeliveryView, WebhookEndpointView } from '../../src/contract/outbound-webhooks.js';
import { auditLog, billingEvent, webhookDelivery, webhookEndpoint } from '../../src/db/schema.js';
import { type Harness, STORE_KINDS, trpcPath, unique, useHarness } from '../support/harness.js';

/** A public address: accepted without a DNS lookup, and never connected to (nothing sends here). */
const PUBLIC_URL = 'https://1.1.1.1/billing-hook';
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
const REFUSED = 'a loopback, private, link-local or metadata address';

interface DeliveriesPage {
  deliveries: WebhookDeliveryView[];
  next_cursor: string | null;
}

const post = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** A value error on `url`, as FastAPI reports a validator's refusal. */
const urlRefused = (url: string, problem: string) => ({
  detail: [{ type: 'value_error', loc: ['body', 'url'], msg: `Value error, ${problem}`, input: url }],
});

describe.each(STORE_KINDS)('the webhook endpoints admin API on %s', (kind) => {
  const h = useHarness({ store: kind });
  /** An app that takes loopback URLs (`BILLING_WEBHOOK_ALLOW_PRIVATE=true`); still no dispatcher. */
  let allowingPrivate: Harness;
  beforeAll(() => {
    allowingPrivate = h.withApp({ config: { webhookAllowPrivate: true } });
  });

  async function createEndpoint(body: Record<string, unknown> = {}, app: Harness = h) {
    const res = await app.asAdmin('/admin/webhook-endpoints', post({ url: PUBLIC_URL, ...body }));
    expect(res.status).toBe(201);
    return (await res.json()) as WebhookEndpointView & { secret: string };
  }

  async function listEndpoints(app: Harness = h) {
    const res = await app.asAdmin('/admin/webhook-endpoints');
    expect(res.status).toBe(200);
    return ((await res.json()) as { endpoints: WebhookEndpointView[] }).endpoints;
  }

  async function deliveriesPage(endpointId: string, query: Record<string, string> = {}) {
    const res = await h.asAdmin(
      `/admin/webhook-endpoints/${endpointId}/deliveries?${new URLSearchParams(query)}`,
    );
    expect(res.status).toBe(200);
    return (await res.json()) as DeliveriesPage;
  }

  /** An endpoint with one pending delivery (the creation of a tenant made after it). */
  async function endpointWithDelivery() {
    const endpoint = await createEndpoint();
    const tenant = await h.tenant('growth');
    const { deliveries } = await deliveriesPage(endpoint.endpoint_id);
    expect(deliveries).toHaveLength(1);
    const [delivery] = deliveries;
    if (!delivery) throw new Error('no delivery');
    return { endpoint, tenant, delivery };
  }

  /** The five routes, for an endpoint and a delivery of it. */
  const routes = (
    endpointId: string,
    deliveryId: string,
  ): [name: string, path: string, init: RequestInit][] => [
    ['POST /admin/webhook-endpoints', '/admin/webhook-endpoints', post({ url: PUBLIC_URL })],
    ['GET /admin/webhook-endpoints', '/admin/webhook-endpoints', {}],
    ['DELETE /admin/webhook-endpoints/{id}', `/admin/webhook-endpoints/${endpointId}`, { method: 'DELETE' }],
    ['GET …/{id}/deliveries', `/admin/webhook-endpoints/${endpointId}/deliveries`, {}],
    [
      'POST …/{id}/deliveries/{deliveryId}/redeliver',
      `/admin/webhook-endpoints/${endpointId}/deliveries/${deliveryId}/redeliver`,
      { method: 'POST' },
    ],
  ];

  const auditEntriesOf = (subjectId: string) =>
    h.db.select().from(auditLog).where(eq(auditLog.subjectId, subjectId)).orderBy(asc(auditLog.id));

  // ---- who may call it ---------------------------------------------------------------------------

  describe('authentication', () => {
    it('answers 401 on every route without a token, and with a worker token, and does nothing', async () => {
      const { endpoint, delivery } = await endpointWithDelivery();
      const endpointsBefore = await listEndpoints();
      const workerToken = await h.workerToken();
      for (const [name, path, init] of routes(endpoint.endpoint_id, delivery.delivery_id)) {
        const anonymous = await h.request(path, init);
        expect({ name, status: anonymous.status, body: await anonymous.text() }).toEqual({
          name,
          status: 401,
          body: '{"detail":"Missing authorization header"}',
        });
        expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');

        const headers = new Headers(init.headers);
        headers.set('authorization', `Bearer ${workerToken}`);
        const asWorker = await h.request(path, { ...init, headers });
        expect({ name, status: asWorker.status, body: await asWorker.json() }).toEqual({
          name,
          status: 401,
          body: { detail: 'Invalid token. Error: Signature verification failed' },
        });
        expect(asWorker.headers.get('www-authenticate')).toBe('Bearer');
      }
      // Nothing created, deleted or redelivered.
      expect(await listEndpoints()).toEqual(endpointsBefore);
      const [after] = (await deliveriesPage(endpoint.endpoint_id)).deliveries;
      expect(after).toEqual(delivery);
      expect(await auditEntriesOf(delivery.delivery_id)).toEqual([]);
    });

    it('answers 404 {"detail":"Not Found"} on every route when the admin API is off', async () => {
      const { endpoint, delivery } = await endpointWithDelivery();
      const off = h.withApp({ config: { adminSecret: undefined } });
      for (const [name, path, init] of routes(endpoint.endpoint_id, delivery.delivery_id)) {
        const res = await off.asAdmin(path, init);
        expect({ name, status: res.status, body: await res.text() }).toEqual({
          name,
          status: 404,
          body: '{"detail":"Not Found"}',
        });
      }
      expect((await listEndpoints()).map((e) => e.endpoint_id)).toContain(endpoint.endpoint_id);
      expect((await deliveriesPage(endpoint.endpoint_id)).deliveries).toEqual([delivery]);
    });
  });

  // ---- what a body may hold ----------------------------------------------------------------------

  describe('POST /admin/webhook-endpoints refuses with 422', () => {
    const cases: [name: string, body: string | undefined, detail: unknown][] = [
      ['a missing body', undefined, [{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }]],
      [
        'a body without url',
        JSON.stringify({ description: 'no url' }),
        [{ type: 'missing', loc: ['body', 'url'], msg: 'Field required', input: null }],
      ],
      [
        'a url that is not a string',
        JSON.stringify({ url: 42 }),
        [{ type: 'string_type', loc: ['body', 'url'], msg: 'Input should be a valid string', input: 42 }],
      ],
      [
        'an event type that does not exist',
        JSON.stringify({ url: PUBLIC_URL, events: ['limits.changed', 'limits.deleted'] }),
        [
          {
            type: 'enum',
            loc: ['body', 'events', 1],
            msg: "Input should be 'limits.changed', 'reservation.expired', 'limit.warning', 'limit.reached' or 'limit.resolved'",
            input: 'limits.deleted',
            ctx: {
              expected:
                "'limits.changed', 'reservation.expired', 'limit.warning', 'limit.reached' or 'limit.resolved'",
            },
          },
        ],
      ],
      [
        'an empty events list',
        JSON.stringify({ url: PUBLIC_URL, events: [] }),
        [
          {
            type: 'too_short',
            loc: ['body', 'events'],
            msg: 'List should have at least 1 item after validation, not 0',
            input: [],
            ctx: { field_type: 'List', min_length: 1, actual_length: 0 },
          },
        ],
      ],
      [
        'a field it does not know',
        JSON.stringify({ url: PUBLIC_URL, secret: 'whsec_mine' }),
        [
          {
            type: 'extra_forbidden',
            loc: ['body', 'secret'],
            msg: 'Extra inputs are not permitted',
            input: 'whsec_mine',
          },
        ],
      ],
      [
        'a description over 1024 characters',
        JSON.stringify({ url: PUBLIC_URL, description: 'd'.repeat(1025) }),
        [
          {
            type: 'string_too_long',
            loc: ['body', 'description'],
            msg: 'String should have at most 1024 characters',
            input: 'd'.repeat(1025),
            ctx: { max_length: 1024 },
          },
        ],
      ],
    ];
    it.each(cases)('%s', async (_, body, detail) => {
      const before = await listEndpoints();
      const res = await h.asAdmin('/admin/webhook-endpoints', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body }),
      });
      expect(res.status).toBe(422);
      expect(await res.json()).toEqual({ detail });
      expect(await listEndpoints()).toEqual(before);
    });

    const refusals: [url: string, problem: string][] = [
      ['ftp://x.example/', 'must be an http or https URL'],
      ['not a url', 'must be an http or https URL'],
      ['https://u:p@x.example/', 'must not contain credentials'],
      ['http://127.0.0.1:9/', `host 127.0.0.1 is ${REFUSED}`],
      ['http://[::1]/', `host ::1 is ${REFUSED}`],
      ['http://169.254.169.254/', `host 169.254.169.254 is ${REFUSED}`],
      // The URL parser normalises the other spellings of an address: still the loopback.
      ['http://2130706433/', `host 127.0.0.1 is ${REFUSED}`],
      ['http://[::ffff:10.0.0.1]/', `host ::ffff:a00:1 is ${REFUSED}`],
    ];
    it.each(refusals)('the URL %s (a value error: %s), creating nothing', async (url, problem) => {
      const before = await listEndpoints();
      const res = await h.asAdmin('/admin/webhook-endpoints', post({ url }));
      expect(res.status).toBe(422);
      expect(await res.json()).toEqual(urlRefused(url, problem));
      expect(await listEndpoints()).toEqual(before);
      const created = await h.db.select().from(webhookEndpoint).where(eq(webhookEndpoint.url, url));
      expect(created).toEqual([]);
    });

    it('a host name that resolves to the loopback (localhost)', async () => {
      const url = 'http://localhost:9/';
      const res = await h.asAdmin('/admin/webhook-endpoints', post({ url }));
      expect(res.status).toBe(422);
      // Which of its addresses is named first is the resolver's order: 127.0.0.1 or ::1.
      expect(await res.json()).toEqual({
        detail: [
          {
            type: 'value_error',
            loc: ['body', 'url'],
            msg: expect.stringMatching(
              /^Value error, host localhost resolves to (127\.0\.0\.1|::1), a loopback, private, link-local or metadata address$/,
            ),
            input: url,
          },
        ],
      });
      expect(await h.db.select().from(webhookEndpoint).where(eq(webhookEndpoint.url, url))).toEqual([]);
    });

    it('still refuses a scheme or credentials when private addresses are allowed, and takes the loopback then', async () => {
      for (const [url, problem] of [
        ['ftp://127.0.0.1/', 'must be an http or https URL'],
        ['http://u:p@127.0.0.1/', 'must not contain credentials'],
      ] as const) {
        const res = await allowingPrivate.asAdmin('/admin/webhook-endpoints', post({ url }));
        expect(res.status).toBe(422);
        expect(await res.json()).toEqual(urlRefused(url, problem));
      }
      // Paths of their own: the refusals above look these URLs up as never created.
      for (const url of [
        'http://127.0.0.1:9/allowed',
        'http://[::1]/allowed',
        'http://localhost:9/allowed',
      ]) {
        const created = await createEndpoint({ url }, allowingPrivate);
        expect(created.url).toBe(url);
        expect((await listEndpoints()).map((e) => e.endpoint_id)).toContain(created.endpoint_id);
      }
    });
  });

  // ---- what a path and a query may hold ----------------------------------------------------------

  describe('path and query', () => {
    it.each([
      ['DELETE', '/admin/webhook-endpoints/not-a-uuid', 'endpointId', 'not-a-uuid'],
      ['GET', '/admin/webhook-endpoints/not-a-uuid/deliveries', 'endpointId', 'not-a-uuid'],
      [
        'POST',
        `/admin/webhook-endpoints/not-a-uuid/deliveries/${UNKNOWN_ID}/redeliver`,
        'endpointId',
        'not-a-uuid',
      ],
      ['POST', `/admin/webhook-endpoints/${UNKNOWN_ID}/deliveries/12345/redeliver`, 'deliveryId', '12345'],
    ])('%s %s: 422 on ["path", "%s"]', async (method, path, field, input) => {
      const res = await h.asAdmin(path, { method });
      expect(res.status).toBe(422);
      expect(await res.json()).toEqual({
        detail: [{ type: 'value_error', loc: ['path', field], msg: 'Value error, Invalid UUID', input }],
      });
    });

    it('refuses both ids of a redelivery when neither is a UUID', async () => {
      const res = await h.asAdmin('/admin/webhook-endpoints/x/deliveries/y/redeliver', { method: 'POST' });
      expect(res.status).toBe(422);
      const { detail } = (await res.json()) as { detail: { loc: string[] }[] };
      expect(detail.map((issue) => issue.loc)).toEqual([
        ['path', 'endpointId'],
        ['path', 'deliveryId'],
      ]);
    });

    const encoded = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    it.each([
      ['not base64url JSON', 'not-a-cursor!'],
      ['JSON of another shape', encoded({ page: 2 })],
      ['a position whose id is not a UUID', encoded(['2026-11-24T12:00:00.000000Z', 'evt-1'])],
      ['a position with a time that is no date', encoded(['2026-13-45T99:00:00.000000Z', UNKNOWN_ID])],
      ['an empty cursor', ''],
    ])('refuses a cursor that is %s with 422 on ["query", "cursor"]', async (_, cursor) => {
      const { endpoint } = await endpointWithDelivery();
      const res = await h.asAdmin(
        `/admin/webhook-endpoints/${endpoint.endpoint_id}/deliveries?${new URLSearchParams({ cursor })}`,
      );
      expect(res.status).toBe(422);
      const body = (await res.json()) as { detail: { loc: string[]; input: unknown }[] };
      expect(body.detail).toHaveLength(1);
      expect(body.detail[0]).toMatchObject({ loc: ['query', 'cursor'], input: cursor });
    });

    it.each([
      ['0', 'greater_than_equal', 'Input should be greater than or equal to 1', { ge: 1 }],
      ['501', 'less_than_equal', 'Input should be less than or equal to 500', { le: 500 }],
    ])('refuses limit=%s with 422 (%s)', async (limit, type, msg, ctx) => {
      const { endpoint } = await endpointWithDelivery();
      const res = await h.asAdmin(
        `/admin/webhook-endpoints/${endpoint.endpoint_id}/deliveries?limit=${limit}`,
      );
      expect(res.status).toBe(422);
      expect(await res.json()).toEqual({
        detail: [{ type, loc: ['query', 'limit'], msg, input: limit, ctx }],
      });
    });

    it('takes limit=1 and limit=500, the bounds', async () => {
      const { endpoint, delivery } = await endpointWithDelivery();
      for (const limit of ['1', '500']) {
        expect(await deliveriesPage(endpoint.endpoint_id, { limit })).toEqual({
          deliveries: [delivery],
          next_cursor: null,
        });
      }
    });
  });

  // ---- what is not there -------------------------------------------------------------------------

  describe('404', () => {
    const endpointNotFound = '{"detail":"Webhook endpoint not found"}';
    const deliveryNotFound = '{"detail":"Webhook delivery not found"}';

    it('Webhook endpoint not found: DELETE, deliveries and redeliver of an unknown endpoint', async () => {
      for (const [method, path] of [
        ['DELETE', `/admin/webhook-endpoints/${UNKNOWN_ID}`],
        ['GET', `/admin/webhook-endpoints/${UNKNOWN_ID}/deliveries`],
        ['POST', `/admin/webhook-endpoints/${UNKNOWN_ID}/deliveries/${UNKNOWN_ID}/redeliver`],
      ] as const) {
        const res = await h.asAdmin(path, { method });
        expect({ method, path, status: res.status, body: await res.text() }).toEqual({
          method,
          path,
          status: 404,
          body: endpointNotFound,
        });
      }
    });

    it('Webhook endpoint not found for a redelivery of a real delivery under an unknown endpoint', async () => {
      const { delivery } = await endpointWithDelivery();
      const res = await h.asAdmin(
        `/admin/webhook-endpoints/${UNKNOWN_ID}/deliveries/${delivery.delivery_id}/redeliver`,
        { method: 'POST' },
      );
      expect(res.status).toBe(404);
      expect(await res.text()).toBe(endpointNotFound);
    });

    it('Webhook delivery not found: an unknown delivery, and one of another endpoint', async () => {
      const mine = await createEndpoint({ description: 'mine' });
      const { endpoint: other, delivery: theirs } = await endpointWithDelivery();
      const unknown = await h.asAdmin(
        `/admin/webhook-endpoints/${mine.endpoint_id}/deliveries/${UNKNOWN_ID}/redeliver`,
        { method: 'POST' },
      );
      expect(unknown.status).toBe(404);
      expect(await unknown.text()).toBe(deliveryNotFound);

      // `theirs` is a delivery of `other`: asked through `mine`, it is not found, and is left as it was.
      const crossed = await h.asAdmin(
        `/admin/webhook-endpoints/${mine.endpoint_id}/deliveries/${theirs.delivery_id}/redeliver`,
        { method: 'POST' },
      );
      expect(crossed.status).toBe(404);
      expect(await crossed.text()).toBe(deliveryNotFound);
      expect((await deliveriesPage(other.endpoint_id)).deliveries).toEqual([theirs]);
      expect(await auditEntriesOf(theirs.delivery_id)).toEqual([]);

      // Through its own endpoint the same delivery is found (and redelivered: 202).
      const own = await h.asAdmin(
        `/admin/webhook-endpoints/${other.endpoint_id}/deliveries/${theirs.delivery_id}/redeliver`,
        { method: 'POST' },
      );
      expect(own.status).toBe(202);
      expect(await own.json()).toEqual({ delivery_id: theirs.delivery_id, status: 'pending' });
    });

    it('DELETE: 204 without a body, the endpoint and its deliveries gone, audited without the secret; again: 404', async () => {
      const { endpoint, delivery } = await endpointWithDelivery();
      await h.tenant('free'); // a second delivery
      const deliveriesOf = () =>
        h.db.select().from(webhookDelivery).where(eq(webhookDelivery.endpointId, endpoint.endpoint_id));
      expect(await deliveriesOf()).toHaveLength(2);

      const res = await h.asAdmin(`/admin/webhook-endpoints/${endpoint.endpoint_id}`, { method: 'DELETE' });
      expect(res.status).toBe(204);
      expect(await res.text()).toBe('');

      expect((await listEndpoints()).map((e) => e.endpoint_id)).not.toContain(endpoint.endpoint_id);
      expect(await deliveriesOf()).toEqual([]);
      expect(
        await h.db.select().from(webhookEndpoint).where(eq(webhookEndpoint.id, endpoint.endpoint_id)),
      ).toEqual([]);
      // Its events stay: they are the service's record, and other endpoints' deliveries point at them.
      expect(
        await h.db.select().from(billingEvent).where(eq(billingEvent.id, delivery.event_id)),
      ).toHaveLength(1);

      const entries = await auditEntriesOf(endpoint.endpoint_id);
      expect(entries.map((entry) => [entry.actor, entry.action])).toEqual([
        ['alice', 'webhook_endpoint.create'],
        ['alice', 'webhook_endpoint.delete'],
      ]);
      const deletion = entries[1];
      expect(deletion).toMatchObject({
        subjectType: 'webhook_endpoint',
        subjectId: endpoint.endpoint_id,
        after: null,
        before: { id: endpoint.endpoint_id, url: PUBLIC_URL, events: null, description: '' },
      });
      expect(deletion?.before).not.toHaveProperty('secret');
      expect(JSON.stringify(deletion?.before)).not.toContain(endpoint.secret);

      const again = await h.asAdmin(`/admin/webhook-endpoints/${endpoint.endpoint_id}`, { method: 'DELETE' });
      expect(again.status).toBe(404);
      expect(await again.text()).toBe(endpointNotFound);
      const deliveries = await h.asAdmin(`/admin/webhook-endpoints/${endpoint.endpoint_id}/deliveries`);
      expect(deliveries.status).toBe(404);
      expect(await deliveries.text()).toBe(endpointNotFound);
      const redeliver = await h.asAdmin(
        `/admin/webhook-endpoints/${endpoint.endpoint_id}/deliveries/${delivery.delivery_id}/redeliver`,
        { method: 'POST' },
      );
      expect(redeliver.status).toBe(404);
      expect(await redeliver.text()).toBe(endpointNotFound);
      // The second DELETE changed nothing: no second audit entry.
      expect(await auditEntriesOf(endpoint.endpoint_id)).toHaveLength(2);
    });
  });

  // ---- pages of deliveries -----------------------------------------------------------------------

  describe('GET …/{id}/deliveries, page by page', () => {
    it('pages 5 deliveries 2 at a time: each once, newest first, all pending and never attempted', async () => {
      const endpoint = await createEndpoint();
      const tenant = unique('org');
      await h.store.tenants.putTenant(tenant, { plan_id: 'free' }, 'test');
      for (const deployments of [2, 3, 4, 5]) {
        await h.store.tenants.putTenant(tenant, { overrides: { deployments } }, 'test');
      }
      const events = await h.db
        .select()
        .from(billingEvent)
        .where(eq(billingEvent.tenantId, tenant))
        .orderBy(asc(billingEvent.sequence));
      expect(events).toHaveLength(5);

      const pages: DeliveriesPage[] = [];
      let cursor: string | null = null;
      do {
        const page = await deliveriesPage(endpoint.endpoint_id, {
          limit: '2',
          ...(cursor === null ? {} : { cursor }),
        });
        pages.push(page);
        cursor = page.next_cursor;
      } while (cursor !== null && pages.length < 10);
      expect(pages.map((page) => page.deliveries.length)).toEqual([2, 2, 1]);
      expect(pages.map((page) => page.next_cursor === null)).toEqual([false, false, true]);

      const seen = pages.flatMap((page) => page.deliveries);
      expect(new Set(seen.map((d) => d.delivery_id)).size).toBe(5);
      // Newest first: the tenant's last event first.
      expect(seen.map((d) => [d.event_id, d.sequence])).toEqual(
        [...events].reverse().map((event) => [event.id, event.sequence]),
      );
      const createdAt = seen.map((d) => Date.parse(d.created_at));
      expect(createdAt).toEqual([...createdAt].sort((a, b) => b - a));
      for (const delivery of seen) {
        expect(delivery).toEqual({
          delivery_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
          event_id: expect.any(String),
          event_type: 'limits.changed',
          sequence: expect.any(Number),
          tenant_id: tenant,
          status: 'pending',
          attempts: 0,
          last_status_code: null,
          last_error: null,
          next_attempt_at: expect.any(String),
          created_at: expect.any(String),
          delivered_at: null,
        });
        expect(Number.isNaN(Date.parse(delivery.next_attempt_at ?? ''))).toBe(false);
      }
      // One page of them all is the same list.
      expect(await deliveriesPage(endpoint.endpoint_id, { limit: '500' })).toEqual({
        deliveries: seen,
        next_cursor: null,
      });
      // The default page (50) holds them all too.
      expect((await deliveriesPage(endpoint.endpoint_id)).deliveries).toEqual(seen);
    });

    it("an endpoint's deliveries are its own: another endpoint created later has only the later events", async () => {
      const first = await createEndpoint();
      await h.tenant('free');
      const second = await createEndpoint();
      const tenant = await h.tenant('free');
      const [latest] = (await deliveriesPage(first.endpoint_id, { limit: '1' })).deliveries;
      expect((await deliveriesPage(second.endpoint_id)).deliveries.map((d) => d.tenant_id)).toEqual([tenant]);
      expect(latest?.tenant_id).toBe(tenant);
      expect((await deliveriesPage(first.endpoint_id)).deliveries).toHaveLength(2);
    });

    it("refuses a cursor of GET /admin/webhook-events (another list's position) with 422", async () => {
      const customer = unique('cus');
      await h.db.execute(sql`
        insert into webhook_event (id, type, created_at, received_at, customer_id, outcome, raw_body)
        select ${customer}::text || '-evt-' || g::text, 'invoice.issued', now(), now() - g * interval '1 second',
               ${customer}::text, 'ignored', '{}'
        from generate_series(1, 2) as g`);
      const events = await h.asAdmin(
        `/admin/webhook-events?${new URLSearchParams({ customer_id: customer, limit: '1' })}`,
      );
      expect(events.status).toBe(200);
      const { next_cursor: cursor } = (await events.json()) as { next_cursor: string | null };
      expect(cursor).toEqual(expect.any(String));

      const { endpoint } = await endpointWithDelivery();
      const res = await h.asAdmin(
        `/admin/webhook-endpoints/${endpoint.endpoint_id}/deliveries?${new URLSearchParams({ cursor: cursor ?? '' })}`,
      );
      expect(res.status).toBe(422);
      expect(await res.json()).toMatchObject({ detail: [{ loc: ['query', 'cursor'], input: cursor }] });
    });

    it('a cursor of another endpoint pages this one from that position, without crashing', async () => {
      const { endpoint: other } = await endpointWithDelivery();
      await h.tenant('free');
      const { next_cursor: cursor } = await deliveriesPage(other.endpoint_id, { limit: '1' });
      expect(cursor).toEqual(expect.any(String));
      const { endpoint } = await endpointWithDelivery();
      const page = await deliveriesPage(endpoint.endpoint_id, { cursor: cursor ?? '' });
      // The position is a time and an id: this endpoint's deliveries before it (its only one is after).
      expect(page).toEqual({ deliveries: [], next_cursor: null });
    });
  });

  // ---- the same procedures on /trpc ----------------------------------------------------------------

  describe('over tRPC', () => {
    it('creates, lists, pages and deletes an endpoint through /trpc/admin.*', async () => {
      const created = await h.asAdmin(
        '/trpc/admin.createWebhookEndpoint',
        post({ url: PUBLIC_URL, description: 'via tRPC', events: ['limits.changed'] }),
      );
      expect(created.status).toBe(200);
      const { result } = (await created.json()) as {
        result: { data: WebhookEndpointView & { secret: string } };
      };
      expect(result.data).toEqual({
        endpoint_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        url: PUBLIC_URL,
        events: ['limits.changed'],
        description: 'via tRPC',
        secret: expect.stringMatching(/^whsec_/),
        created_at: expect.any(String),
        disabled_at: null,
        disabled_reason: null,
      });
      const endpointId = result.data.endpoint_id;
      const { secret: _, ...view } = result.data;

      const listed = await h.asAdmin(trpcPath('admin.listWebhookEndpoints', {}));
      expect(listed.status).toBe(200);
      const { endpoints } = (
        (await listed.json()) as { result: { data: { endpoints: WebhookEndpointView[] } } }
      ).result.data;
      expect(endpoints).toContainEqual(view);

      const tenant = await h.tenant('growth');
      const page = await h.asAdmin(trpcPath('admin.listWebhookDeliveries', { endpointId, limit: 10 }));
      expect(page.status).toBe(200);
      const pageData = ((await page.json()) as { result: { data: DeliveriesPage } }).result.data;
      expect(pageData.next_cursor).toBeNull();
      expect(pageData.deliveries.map((d) => [d.tenant_id, d.status])).toEqual([[tenant, 'pending']]);

      const deleted = await h.asAdmin('/trpc/admin.deleteWebhookEndpoint', post({ endpointId }));
      expect(deleted.status).toBe(200);
      expect(await listEndpoints()).not.toContainEqual(view);
      const again = await h.asAdmin('/trpc/admin.deleteWebhookEndpoint', post({ endpointId }));
      expect(again.status).toBe(404);
      expect(await again.json()).toMatchObject({
        error: { data: { code: 'NOT_FOUND', httpStatus: 404, detail: 'Webhook endpoint not found' } },
      });
    });

    it('refuses a private URL with 422 UNPROCESSABLE_CONTENT on ["input", "url"], and a bad input with 400', async () => {
      const url = 'http://127.0.0.1:9/trpc';
      const refused = await h.asAdmin('/trpc/admin.createWebhookEndpoint', post({ url }));
      expect(refused.status).toBe(422);
      expect(await refused.json()).toMatchObject({
        error: {
          data: {
            code: 'UNPROCESSABLE_CONTENT',
            httpStatus: 422,
            detail: [
              {
                type: 'value_error',
                loc: ['input', 'url'],
                msg: `Value error, host 127.0.0.1 is ${REFUSED}`,
                input: url,
              },
            ],
          },
        },
      });
      // tRPC's own status for an input its schema refuses is 400; the detail is FastAPI's still.
      const invalid = await h.asAdmin('/trpc/admin.createWebhookEndpoint', post({ events: [] }));
      expect(invalid.status).toBe(400);
      expect(await invalid.json()).toMatchObject({
        error: {
          data: {
            code: 'BAD_REQUEST',
            detail: [
              { type: 'missing', loc: ['input', 'url'] },
              { type: 'too_short', loc: ['input', 'events'] },
            ],
          },
        },
      });
      expect(await h.db.select().from(webhookEndpoint).where(eq(webhookEndpoint.url, url))).toEqual([]);
    });

    it('is for admins only on tRPC too: 401 with a worker token', async () => {
      const res = await h.asWorker(trpcPath('admin.listWebhookEndpoints', {}));
      expect(res.status).toBe(401);
      const redeliver = await h.asWorker(
        '/trpc/admin.redeliverWebhookDelivery',
        post({ endpointId: UNKNOWN_ID, deliveryId: UNKNOWN_ID }),
      );
      expect(redeliver.status).toBe(401);
    });
  });

  it('lists endpoints oldest first, each without its secret', async () => {
    const a = await createEndpoint({ description: 'a' });
    const b = await createEndpoint({ description: 'b', events: ['limits.changed'] });
    const listed = await listEndpoints();
    const ids = listed.map((e) => e.endpoint_id);
    expect(ids.indexOf(a.endpoint_id)).toBeLessThan(ids.indexOf(b.endpoint_id));
    for (const endpoint of listed) expect(endpoint).not.toHaveProperty('secret');
    const rows = await h.db
      .select({ id: webhookEndpoint.id, events: webhookEndpoint.events })
      .from(webhookEndpoint)
      .where(and(eq(webhookEndpoint.id, b.endpoint_id)));
    expect(rows).toEqual([{ id: b.endpoint_id, events: ['limits.changed'] }]);
  });
});
