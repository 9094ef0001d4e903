/**
 * How the dispatcher meets receivers that misbehave, and what it refuses to do: an address
 * refused at send time, an endpoint that fails for too long, no answer, a redirect, a deleted
 * endpoint, and the pending gauge. Each test has a database of its own: a dispatcher runs until
 * its store closes, and one test's must not send another's deliveries.
 */
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq, sql } from 'drizzle-orm';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { WebhookDeliveryView, WebhookEndpointView } from '../../src/contract/outbound-webhooks.js';
import { webhookDelivery } from '../../src/db/schema.js';
import { eventually } from '../support/eventually.js';
import { createHarness, type Harness, STORE_KINDS, type StoreKind, unique } from '../support/harness.js';
import { parsePrometheus, sampleSum } from '../support/prometheus.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';

interface Warning {
  message: string;
  fields: Record<string, unknown>;
}

type DispatcherSettings = {
  pollMs?: number;
  attemptTimeoutMs?: number;
  retryDelaysMs?: number[];
  disableAfterMs?: number;
};

const post = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/**
 * A database of the test's own; `admin` manages endpoints and takes loopback URLs (the receivers
 * listen on 127.0.0.1) but sends nothing; `startSender` starts an app that does.
 */
async function setUp(kind: StoreKind) {
  const h = await createHarness({ store: kind });
  const admin = h.withApp({ config: { webhookAllowPrivate: true } });
  const warnings: Warning[] = [];

  const startSender = (dispatcher: DispatcherSettings, { allowPrivate = true } = {}) =>
    h.withApp({
      config: { webhookAllowPrivate: allowPrivate },
      dependencies: { dispatcher: { pollMs: 100, attemptTimeoutMs: 2_000, ...dispatcher } },
      hooks: { warn: (message, fields) => warnings.push({ message, fields }) },
    });

  const createEndpoint = async (url: string) => {
    const res = await admin.asAdmin('/admin/webhook-endpoints', post({ url }));
    expect(res.status).toBe(201);
    return (await res.json()) as WebhookEndpointView;
  };

  const deliveriesOf = async (endpointId: string): Promise<WebhookDeliveryView[]> => {
    const res = await admin.asAdmin(`/admin/webhook-endpoints/${endpointId}/deliveries?limit=500`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { deliveries: WebhookDeliveryView[] }).deliveries;
  };

  const endpointOf = async (endpointId: string) => {
    const res = await admin.asAdmin('/admin/webhook-endpoints');
    const { endpoints } = (await res.json()) as { endpoints: WebhookEndpointView[] };
    return endpoints.find((endpoint) => endpoint.endpoint_id === endpointId);
  };

  /** A new tenant (one event), then `changes` more events for it: each a new deployments override. */
  const tenantWithEvents = async (changes = 0) => {
    const tenant = unique('org');
    await h.store.tenants.putTenant(tenant, { plan_id: 'free' }, 'test');
    for (let i = 0; i < changes; i++) {
      await h.store.tenants.putTenant(tenant, { overrides: { deployments: 10 + i } }, 'test');
    }
    return tenant;
  };

  return { h, admin, warnings, startSender, createEndpoint, deliveriesOf, endpointOf, tenantWithEvents };
}

async function metricsOf(app: Harness) {
  return parsePrometheus(await (await app.request('/metrics')).text());
}

const deliveriesMetric = async (app: Harness, outcome: string) =>
  sampleSum(await metricsOf(app), 'billing_webhook_deliveries_total', {
    event_type: 'limits.changed',
    outcome,
  });

/** A server on 127.0.0.1 that answers every request with `answer`, counting them; closed when the test ends. */
async function startServer(answer: (res: ServerResponse) => void) {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    req.resume();
    answer(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests: () => requests,
  };
}

describe.each(STORE_KINDS)('outbound webhook deliveries at the edges, on %s', (kind) => {
  it.each([
    ['an IP literal', (port: string) => `http://127.0.0.1:${port}/hook`, /^refused address 127\.0\.0\.1$/],
    [
      'a name that resolves to the loopback',
      (port: string) => `http://localhost:${port}/hook`,
      /^host localhost resolves to (127\.0\.0\.1|::1), a loopback, private, link-local or metadata address$/,
    ],
  ])(
    'refuses a private address at send time too (%s): never connected, retried, then failed',
    async (_, urlOf, error) => {
      const { admin, startSender, createEndpoint, deliveriesOf, tenantWithEvents } = await setUp(kind);
      const receiver = await startWebhookReceiver();
      // Created where private addresses were allowed; sent from a replica where they are not.
      const endpoint = await createEndpoint(urlOf(new URL(receiver.url).port));
      await tenantWithEvents();
      const sender = startSender({ retryDelaysMs: [50, 50] }, { allowPrivate: false });

      await eventually(async () => (await deliveriesOf(endpoint.endpoint_id))[0]?.status === 'failed');
      const [delivery] = await deliveriesOf(endpoint.endpoint_id);
      expect(delivery).toMatchObject({ status: 'failed', attempts: 3, last_status_code: null });
      expect(delivery?.last_error).toMatch(error);
      expect(receiver.received).toEqual([]);
      // Two attempts retried, the third given up.
      expect(await deliveriesMetric(sender, 'retried')).toBe(2);
      expect(await deliveriesMetric(sender, 'failed')).toBe(1);
      expect(await deliveriesMetric(sender, 'delivered')).toBe(0);
      // A refused address is the receiver's problem, not a sign it is gone: the endpoint stays enabled.
      const listed = await admin.asAdmin('/admin/webhook-endpoints');
      expect(await listed.json()).toMatchObject({ endpoints: [{ disabled_at: null }] });
    },
  );

  it('disables an endpoint that fails every attempt for disableAfterMs, with a warning; its other deliveries fail', async () => {
    const { warnings, startSender, createEndpoint, deliveriesOf, endpointOf, tenantWithEvents } =
      await setUp(kind);
    const receiver = await startWebhookReceiver({ fallback: 500 });
    const endpoint = await createEndpoint(receiver.url);
    const tenant = await tenantWithEvents(2); // three events, sent one after the other
    startSender({ retryDelaysMs: [50, 50, 50, 50, 50], disableAfterMs: 200 });

    await eventually(async () => (await endpointOf(endpoint.endpoint_id))?.disabled_at !== null);
    expect((await endpointOf(endpoint.endpoint_id))?.disabled_reason).toBe('failed continuously');
    await eventually(() => warnings.length > 0);
    expect(warnings).toEqual([
      {
        message: 'webhook endpoint disabled',
        fields: { endpoint_id: endpoint.endpoint_id, url: receiver.url, reason: 'failed continuously' },
      },
    ]);
    const deliveries = await deliveriesOf(endpoint.endpoint_id); // newest first
    expect(deliveries.map((d) => d.tenant_id)).toEqual([tenant, tenant, tenant]);
    // The first event failed every attempt until the run lasted 200 ms (at its sixth attempt at the latest).
    const first = deliveries[2];
    expect(first).toMatchObject({ status: 'failed', last_status_code: 500, last_error: 'answered 500' });
    expect(first?.attempts).toBeGreaterThanOrEqual(2);
    expect(first?.attempts).toBeLessThanOrEqual(6);
    // The later two waited behind it and were never attempted: failed with the endpoint.
    for (const later of deliveries.slice(0, 2)) {
      expect(later).toMatchObject({
        status: 'failed',
        attempts: 0,
        last_status_code: null,
        last_error: 'endpoint disabled: failed continuously',
        next_attempt_at: null,
      });
    }
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id']))).toEqual(
      new Set([first?.event_id]),
    );
    expect(receiver.received).toHaveLength(first?.attempts ?? -1);
    const run = (receiver.received.at(-1)?.at ?? 0) - (receiver.received[0]?.at ?? 0);
    expect(run).toBeGreaterThanOrEqual(100); // it did fail for a while first
  });

  it('a delivered attempt ends the run of failures: failing again later starts a new one', async () => {
    const { h, warnings, startSender, createEndpoint, deliveriesOf, endpointOf, tenantWithEvents } =
      await setUp(kind);
    const DISABLE_AFTER_MS = 1_000; // far above a run of two 50 ms retries, even on a loaded machine
    const receiver = await startWebhookReceiver();
    receiver.answer([500, 500]); // then 200
    const endpoint = await createEndpoint(receiver.url);
    const tenant = await tenantWithEvents();
    startSender({ retryDelaysMs: [50, 50, 50, 50, 50, 50, 50, 50], disableAfterMs: DISABLE_AFTER_MS });

    await eventually(() => receiver.received.some((r) => r.status === 200));
    const firstFailureAt = receiver.received[0]?.at ?? 0;
    // Longer than disableAfterMs since the first run began: had it not ended, the next failure would disable.
    await eventually(() => Date.now() - firstFailureAt > DISABLE_AFTER_MS + 200, 5_000);
    receiver.answer([500, 500]);
    await h.store.tenants.putTenant(tenant, { overrides: { deployments: 3 } }, 'test');

    await eventually(() => receiver.received.filter((r) => r.status === 200).length === 2);
    expect(receiver.received.map((r) => r.status)).toEqual([500, 500, 200, 500, 500, 200]);
    await eventually(async () =>
      (await deliveriesOf(endpoint.endpoint_id)).every((d) => d.status === 'delivered'),
    );
    expect((await deliveriesOf(endpoint.endpoint_id)).map((d) => [d.status, d.attempts])).toEqual([
      ['delivered', 3],
      ['delivered', 3],
    ]);
    expect((await endpointOf(endpoint.endpoint_id))?.disabled_at).toBeNull();
    expect(warnings).toEqual([]);
  });

  it('counts no answer within attemptTimeoutMs as a failed attempt: retried, then given up', async () => {
    const { startSender, createEndpoint, deliveriesOf, tenantWithEvents } = await setUp(kind);
    // Accepts every request and never answers it.
    const held: ServerResponse[] = [];
    const silent = await startServer((res) => held.push(res));
    const endpoint = await createEndpoint(silent.url);
    await tenantWithEvents();
    const sender = startSender({ attemptTimeoutMs: 300, retryDelaysMs: [50, 50] });

    // While the second attempt waits, the first one's timeout is on record and the delivery pending.
    await eventually(async () => {
      const [delivery] = await deliveriesOf(endpoint.endpoint_id);
      return delivery?.status === 'pending' && delivery.last_error === 'no answer within 300 ms';
    });
    await eventually(async () => (await deliveriesOf(endpoint.endpoint_id))[0]?.status === 'failed');
    expect((await deliveriesOf(endpoint.endpoint_id))[0]).toMatchObject({
      status: 'failed',
      attempts: 3,
      last_status_code: null,
      last_error: 'no answer within 300 ms',
    });
    expect(silent.requests()).toBe(3);
    expect(await deliveriesMetric(sender, 'retried')).toBe(2);
    expect(await deliveriesMetric(sender, 'failed')).toBe(1);
  });

  it.each([302, 307])('counts an answer %i as a failure: the redirect is not followed', async (status) => {
    const { startSender, createEndpoint, deliveriesOf, tenantWithEvents } = await setUp(kind);
    const target = await startWebhookReceiver();
    const redirecting = await startServer((res) => res.writeHead(status, { location: target.url }).end());
    const endpoint = await createEndpoint(redirecting.url);
    await tenantWithEvents();
    const sender = startSender({ retryDelaysMs: [50] });

    await eventually(async () => (await deliveriesOf(endpoint.endpoint_id))[0]?.status === 'failed');
    expect((await deliveriesOf(endpoint.endpoint_id))[0]).toMatchObject({
      status: 'failed',
      attempts: 2,
      last_status_code: status,
      last_error: `answered ${status}`,
    });
    expect(redirecting.requests()).toBe(2);
    expect(target.received).toEqual([]);
    expect(await deliveriesMetric(sender, 'retried')).toBe(1);
    expect(await deliveriesMetric(sender, 'delivered')).toBe(0);
  });

  it('billing_webhook_outbox_pending counts the pending deliveries while the receiver fails, and 0 once done', async () => {
    const { admin, startSender, createEndpoint, deliveriesOf, tenantWithEvents } = await setUp(kind);
    const receiver = await startWebhookReceiver({ fallback: 500 });
    const endpoint = await createEndpoint(receiver.url);
    const deliveredLater = await tenantWithEvents(1); // two deliveries
    const givenUp = await tenantWithEvents(); // one
    const sender = startSender({ retryDelaysMs: [300, 300, 300] });
    const pending = async () => sampleSum(await metricsOf(sender), 'billing_webhook_outbox_pending');

    // Only a sending replica has the gauge.
    expect((await metricsOf(admin)).some((s) => s.name === 'billing_webhook_outbox_pending')).toBe(false);
    await eventually(async () => (await pending()) === 3);
    expect(receiver.received.length).toBeGreaterThanOrEqual(2);

    // One tenant's receiver comes back; the other's never does: delivered, and given up.
    receiver.answer(({ body }) => (body.includes(`"${deliveredLater}"`) ? 200 : 500));
    await eventually(async () => {
      const deliveries = await deliveriesOf(endpoint.endpoint_id);
      return deliveries.every((d) => d.status !== 'pending');
    });
    await eventually(async () => (await pending()) === 0);
    const deliveries = await deliveriesOf(endpoint.endpoint_id);
    expect(deliveries.map((d) => [d.tenant_id, d.status]).sort()).toEqual(
      [
        [deliveredLater, 'delivered'],
        [deliveredLater, 'delivered'],
        [givenUp, 'failed'],
      ].sort(),
    );
  });

  it("does not attempt a deleted endpoint's pending deliveries", async () => {
    const { h, admin, startSender, createEndpoint, deliveriesOf, tenantWithEvents } = await setUp(kind);
    // No retry comes due by itself during the test: the test brings them due (below), so the DELETE
    // surely comes first however slow the machine. (An attempt already claimed when the endpoint is
    // deleted is still made — attempts under way finish — and is not the point here.)
    const RETRY_MS = 10 * 60_000;
    const deleted = await startWebhookReceiver({ fallback: 500 });
    const kept = await startWebhookReceiver({ fallback: 500 });
    const doomed = await createEndpoint(deleted.url);
    const other = await createEndpoint(kept.url);
    const tenant = await tenantWithEvents();
    startSender({ retryDelaysMs: [RETRY_MS, RETRY_MS, RETRY_MS] });

    // Both endpoints failed their first attempt, and the kept one's delivery waits for its retry
    // (its outcome recorded: `attempts` counts a claim, and a claim's outcome would overwrite the
    // retry time this test sets below).
    await eventually(async () => {
      const [delivery, ...more] = await deliveriesOf(other.endpoint_id);
      return deleted.received.length === 1 && more.length === 0 && delivery?.last_status_code === 500;
    });
    const res = await admin.asAdmin(`/admin/webhook-endpoints/${doomed.endpoint_id}`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(
      await h.db.select().from(webhookDelivery).where(eq(webhookDelivery.endpointId, doomed.endpoint_id)),
    ).toEqual([]);

    // Every retry still pending comes due now, and the next event wakes the sender: the kept
    // endpoint's retry is sent (it shows a retry would have been), the deleted one's is not.
    kept.answer(() => 200);
    await h.db
      .update(webhookDelivery)
      .set({ nextAttemptAt: sql`now()` })
      .where(eq(webhookDelivery.status, 'pending'));
    const later = await tenantWithEvents();
    await eventually(() => kept.payloads(tenant).length === 2 && kept.payloads(later).length === 1);
    // The receiver has the body before the dispatcher has read its answer and marked the delivery.
    await eventually(async () =>
      (await deliveriesOf(other.endpoint_id)).every((delivery) => delivery.status === 'delivered'),
    );
    expect((await deliveriesOf(other.endpoint_id)).map((d) => d.status)).toEqual(['delivered', 'delivered']);
    expect(deleted.received).toHaveLength(1);
  });
});
