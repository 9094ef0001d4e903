import { randomUUID } from 'node:crypto';
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { CreatedWebhookEndpoint, WebhookDeliveryView } from '../../src/contract/outbound-webhooks.js';
import {
  auditLog,
  billingEvent,
  organizationToAccount,
  webhookDelivery,
  webhookEndpoint,
} from '../../src/db/schema.js';
import { eventually } from '../support/eventually.js';
import { type Harness, STORE_KINDS, useHarness } from '../support/harness.js';
import { orbDelivery, subscriptionEvent } from '../support/orb.js';
import { parsePrometheus, sampleSum } from '../support/prometheus.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

/** Three retries 100 ms apart, then given up: the real schedule's shape, in a test's time. */
const RETRY_DELAYS_MS = [100, 100, 100];

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

describe.each(STORE_KINDS)('outbound webhooks on %s', (kind) => {
  const h = useHarness({ store: kind });
  /** The one app in this file that sends (see `dispatcher: false` in the harness). */
  let sender: Harness;
  const warnings: { message: string; fields: Record<string, unknown> }[] = [];
  beforeAll(() => {
    sender = h.withApp({
      config: { webhookAllowPrivate: true },
      dependencies: { dispatcher: { retryDelaysMs: RETRY_DELAYS_MS, pollMs: 200, attemptTimeoutMs: 2_000 } },
      hooks: { warn: (message, fields) => warnings.push({ message, fields }) },
    });
  });

  /** An endpoint for `receiver`, deleted when the test ends. */
  async function endpointFor(receiver: WebhookReceiver, body: Record<string, unknown> = {}) {
    const res = await sender.asAdmin('/admin/webhook-endpoints', json({ url: receiver.url, ...body }));
    expect(res.status).toBe(201);
    const created = (await res.json()) as CreatedWebhookEndpoint;
    onTestFinished(async () => {
      await sender.asAdmin(`/admin/webhook-endpoints/${created.endpoint_id}`, { method: 'DELETE' });
    });
    return created;
  }

  async function deliveriesOf(endpointId: string): Promise<WebhookDeliveryView[]> {
    const res = await sender.asAdmin(`/admin/webhook-endpoints/${endpointId}/deliveries?limit=500`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { deliveries: WebhookDeliveryView[] }).deliveries;
  }

  const putTenant = (tenantId: string, body: Record<string, unknown>) =>
    sender.asAdmin(`/admin/tenants/${tenantId}`, { ...json(body), method: 'PUT' });

  it('creates an endpoint: 201 with its secret, listed without it, audited without it', async () => {
    const receiver = await startWebhookReceiver();
    const created = await endpointFor(receiver, { description: 'Engine cache' });
    expect(created).toEqual({
      endpoint_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      url: receiver.url,
      // Left out: every type, listed.
      events: ['limits.changed', 'reservation.expired', 'limit.warning', 'limit.reached', 'limit.resolved'],
      description: 'Engine cache',
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
      created_at: expect.any(String),
      disabled_at: null,
      disabled_reason: null,
    });
    expect(Buffer.from(created.secret.slice('whsec_'.length), 'base64')).toHaveLength(32);

    const listed = await sender.asAdmin('/admin/webhook-endpoints');
    expect(listed.status).toBe(200);
    const { endpoints } = (await listed.json()) as { endpoints: Record<string, unknown>[] };
    const { secret: _, ...shown } = created;
    expect(endpoints).toContainEqual(shown);
    expect(JSON.stringify(endpoints)).not.toContain(created.secret);

    const [entry] = await h.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.subjectType, 'webhook_endpoint'), eq(auditLog.subjectId, created.endpoint_id)));
    expect(entry).toMatchObject({ actor: 'alice', action: 'webhook_endpoint.create', before: null });
    expect(JSON.stringify(entry?.after)).not.toContain(created.secret);
    expect(entry?.after).toMatchObject({ url: receiver.url, events: null, description: 'Engine cache' });
  });

  it('sends limits.changed signed the Standard Webhooks way, verified by its own package', async () => {
    const tenant = await h.tenant('growth');
    const receiver = await startWebhookReceiver();
    const endpoint = await endpointFor(receiver);
    expect((await putTenant(tenant, { overrides: { deployments: 10 } })).status).toBe(200);

    await eventually(() => receiver.payloads(tenant).length === 1);
    const [request] = receiver.received.filter((r) => r.body.includes(`"${tenant}"`));
    if (!request) throw new Error('no request');
    expect(request.headers['content-type']).toBe('application/json');
    const verified = new Webhook(endpoint.secret).verify(request.body, {
      'webhook-id': String(request.headers['webhook-id']),
      'webhook-timestamp': String(request.headers['webhook-timestamp']),
      'webhook-signature': String(request.headers['webhook-signature']),
    });
    const [event] = await h.db
      .select()
      .from(billingEvent)
      .where(eq(billingEvent.tenantId, tenant))
      .orderBy(desc(billingEvent.sequence))
      .limit(1);
    expect(request.headers['webhook-id']).toBe(event?.id);
    expect(Math.abs(Number(request.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    expect(verified).toEqual({
      type: 'limits.changed',
      timestamp: event?.createdAt.toISOString(),
      data: {
        tenant_id: tenant,
        customer_id: tenant,
        sequence: event?.sequence,
        before: { deployments: 5, self_hosted_workers: null, plan_type: 'growth' },
        after: { deployments: 10, self_hosted_workers: null, plan_type: 'growth' },
        cause: 'admin',
      },
    });
    // Key order is the contract's.
    expect(Object.keys((verified as { data: object }).data)).toEqual([
      'tenant_id',
      'customer_id',
      'sequence',
      'before',
      'after',
      'cause',
    ]);
    // Another secret does not verify it.
    expect(() =>
      new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(request.body, {
        'webhook-id': String(request.headers['webhook-id']),
        'webhook-timestamp': String(request.headers['webhook-timestamp']),
        'webhook-signature': String(request.headers['webhook-signature']),
      }),
    ).toThrow();

    // The receiver answered before the outcome was recorded: wait for it.
    await eventually(async () => (await deliveriesOf(endpoint.endpoint_id))[0]?.status === 'delivered');
    const [delivery] = await deliveriesOf(endpoint.endpoint_id);
    expect(delivery).toMatchObject({
      event_id: event?.id,
      event_type: 'limits.changed',
      sequence: event?.sequence,
      tenant_id: tenant,
      status: 'delivered',
      attempts: 1,
      last_status_code: 200,
      last_error: null,
      next_attempt_at: null,
    });
    expect(delivery?.delivered_at).not.toBeNull();
  });

  it('writes one event per tenant whose limits changed, none when nothing changed, before: null on creation', async () => {
    const tenant = unique();
    const eventsOf = () => h.db.select().from(billingEvent).where(eq(billingEvent.tenantId, tenant));
    expect((await putTenant(tenant, { plan_id: 'free' })).status).toBe(200);
    expect((await eventsOf()).map((event) => event.data)).toEqual([
      {
        tenant_id: tenant,
        customer_id: tenant,
        before: null,
        after: { deployments: 1, self_hosted_workers: 5, plan_type: 'free' },
        cause: 'admin',
      },
    ]);
    // The same again, an override equal to the plan's limit, soft limits: no limit changes.
    expect((await putTenant(tenant, { plan_id: 'free' })).status).toBe(200);
    expect((await putTenant(tenant, { overrides: { deployments: 1 } })).status).toBe(200);
    expect((await putTenant(tenant, { soft_limits: { deployments: { overage_cap: 2 } } })).status).toBe(200);
    expect(await eventsOf()).toHaveLength(1);
    // Clearing overrides that changed nothing either.
    expect((await sender.asAdmin(`/admin/tenants/${tenant}/overrides`, { method: 'DELETE' })).status).toBe(
      200,
    );
    expect(await eventsOf()).toHaveLength(1);

    expect((await putTenant(tenant, { overrides: { self_hosted_workers: null } })).status).toBe(200);
    expect((await sender.asAdmin(`/admin/tenants/${tenant}/overrides`, { method: 'DELETE' })).status).toBe(
      200,
    );
    const events = await eventsOf();
    expect(events.map((event) => [event.data['before'], event.data['after']])).toEqual([
      [null, { deployments: 1, self_hosted_workers: 5, plan_type: 'free' }],
      [
        { deployments: 1, self_hosted_workers: 5, plan_type: 'free' },
        { deployments: 1, self_hosted_workers: null, plan_type: 'free' },
      ],
      [
        { deployments: 1, self_hosted_workers: null, plan_type: 'free' },
        { deployments: 1, self_hosted_workers: 5, plan_type: 'free' },
      ],
    ]);
    const sequences = events.map((event) => event.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
  });

  it("a customer's plan change is one event per organization of the customer, cause admin", async () => {
    const customer = unique('cus');
    const [a, b] = [unique(), unique()];
    await h.store.tenants.putTenant(a, { plan_id: 'free', customer_id: customer }, 'test');
    await h.store.tenants.putTenant(b, { customer_id: customer, overrides: { deployments: 3 } }, 'test');
    const before = await h.db.select({ n: sql<number>`max(${billingEvent.sequence})` }).from(billingEvent);
    expect((await putTenant(a, { plan_id: 'growth' })).status).toBe(200);
    const events = await h.db
      .select()
      .from(billingEvent)
      .where(sql`${billingEvent.sequence} > ${before[0]?.n ?? 0}`);
    expect(events.map((event) => event.data)).toEqual(
      [
        {
          tenant_id: a,
          customer_id: customer,
          before: { deployments: 1, self_hosted_workers: 5, plan_type: 'free' },
          after: { deployments: 5, self_hosted_workers: null, plan_type: 'growth' },
          cause: 'admin',
        },
        {
          tenant_id: b,
          customer_id: customer,
          before: { deployments: 3, self_hosted_workers: 5, plan_type: 'free' },
          after: { deployments: 3, self_hosted_workers: null, plan_type: 'growth' },
          cause: 'admin',
        },
      ].sort((x, y) => (x.tenant_id < y.tenant_id ? -1 : 1)),
    );
  });

  it('an Orb plan change is one event per organization of the customer, cause orb', async () => {
    const customer = unique('cus');
    const [a, b] = [unique(), unique()];
    await h.store.tenants.putTenant(a, { plan_id: 'free', customer_id: customer }, 'test');
    await h.store.tenants.putTenant(b, { customer_id: customer }, 'test');
    const body = subscriptionEvent({
      id: `evt-${randomUUID()}`,
      type: 'subscription.plan_changed',
      customer,
      plan: 'enterprise',
    });
    const res = await sender.request('/webhooks/orb', orbDelivery(body));
    expect(await res.json()).toMatchObject({ outcome: 'applied' });
    for (const tenant of [a, b]) {
      const events = await h.db.select().from(billingEvent).where(eq(billingEvent.tenantId, tenant));
      expect(events.at(-1)?.data).toEqual({
        tenant_id: tenant,
        customer_id: customer,
        before: { deployments: 1, self_hosted_workers: 5, plan_type: 'free' },
        after: { deployments: null, self_hosted_workers: null, plan_type: 'enterprise' },
        cause: 'orb',
      });
    }
  });

  it('a catalog change is one event per tenant on the plan whose limits changed, cause catalog', async () => {
    const plans = (await (await sender.asAdmin('/admin/plans')).json()) as Record<string, unknown>[];
    const enterprise = plans.find((plan) => plan['plan_id'] === 'enterprise');
    const plain = await h.tenant('enterprise');
    // Both limits overridden: the plan's limits do not reach it.
    const shielded = await h.tenant('enterprise', { overrides: { deployments: 2, self_hosted_workers: 2 } });
    const onGrowth = await h.tenant('growth');
    const [last] = await h.db
      .select({ sequence: billingEvent.sequence })
      .from(billingEvent)
      .orderBy(desc(billingEvent.sequence))
      .limit(1);
    const setPlan = (deployments: number | null) =>
      sender.asAdmin('/admin/plans/enterprise', {
        ...json({ deployments, self_hosted_workers: enterprise?.['self_hosted_workers'] ?? null }),
        method: 'PUT',
      });
    expect((await setPlan(50)).status).toBe(200);
    try {
      const events = await h.db
        .select()
        .from(billingEvent)
        .where(sql`${billingEvent.sequence} > ${last?.sequence ?? 0}`);
      const tenants = events.map((event) => event.tenantId);
      expect(new Set(tenants).size).toBe(tenants.length);
      expect(tenants).toContain(plain);
      expect(tenants).not.toContain(shielded);
      expect(tenants).not.toContain(onGrowth);
      expect(events.every((event) => event.data['cause'] === 'catalog')).toBe(true);
      expect(events.find((event) => event.tenantId === plain)?.data).toEqual({
        tenant_id: plain,
        customer_id: plain,
        before: { deployments: null, self_hosted_workers: null, plan_type: 'enterprise' },
        after: { deployments: 50, self_hosted_workers: null, plan_type: 'enterprise' },
        cause: 'catalog',
      });
    } finally {
      expect((await setPlan(null)).status).toBe(200);
    }
  });

  it('retries a failed attempt with the same id and body, then delivers; counted in the metrics', async () => {
    const tenant = await h.tenant('growth');
    const receiver = await startWebhookReceiver();
    receiver.answer([500, 503]);
    const endpoint = await endpointFor(receiver);
    const metric = async (outcome: string) =>
      sampleSum(
        parsePrometheus(await (await sender.request('/metrics')).text()),
        'billing_webhook_deliveries_total',
        {
          event_type: 'limits.changed',
          outcome,
        },
      );
    const [retriedBefore, deliveredBefore] = [await metric('retried'), await metric('delivered')];
    expect((await putTenant(tenant, { overrides: { deployments: 7 } })).status).toBe(200);

    await eventually(() => receiver.received.length === 3);
    const ids = new Set(receiver.received.map((request) => request.headers['webhook-id']));
    expect(ids.size).toBe(1);
    expect(new Set(receiver.received.map((request) => request.body)).size).toBe(1);
    expect(receiver.received.map((request) => request.status)).toEqual([500, 503, 200]);
    for (const request of receiver.received) {
      // Each attempt is signed for its own timestamp.
      new Webhook(endpoint.secret).verify(request.body, request.headers as Record<string, string>);
    }
    await eventually(async () => (await deliveriesOf(endpoint.endpoint_id))[0]?.status === 'delivered');
    expect((await deliveriesOf(endpoint.endpoint_id))[0]).toMatchObject({
      attempts: 3,
      last_status_code: 200,
    });
    expect((await metric('retried')) - retriedBefore).toBe(2);
    expect((await metric('delivered')) - deliveredBefore).toBe(1);
  });

  it('gives a delivery up after its last retry; the tenant’s next event is sent after it', async () => {
    const receiver = await startWebhookReceiver();
    const tenant = await h.tenant('growth');
    // Every attempt of the first event fails; the second event is answered.
    receiver.answer(({ body }) => (JSON.parse(body).data.after.deployments === 11 ? 500 : 200));
    const endpoint = await endpointFor(receiver);
    expect((await putTenant(tenant, { overrides: { deployments: 11 } })).status).toBe(200);
    expect((await putTenant(tenant, { overrides: { deployments: 12 } })).status).toBe(200);
    await eventually(() => receiver.received.some((request) => request.body.includes('"deployments":12')));
    const statuses = receiver.received.map((request) => [
      JSON.parse(request.body).data.after.deployments,
      request.status,
    ]);
    expect(statuses).toEqual([
      [11, 500],
      [11, 500],
      [11, 500],
      [11, 500],
      [12, 200],
    ]);
    // The receiver answered before the outcome was recorded: wait for it.
    await eventually(async () => (await deliveriesOf(endpoint.endpoint_id))[0]?.status === 'delivered');
    const deliveries = await deliveriesOf(endpoint.endpoint_id);
    expect(deliveries.map((d) => [d.status, d.attempts, d.last_status_code, d.last_error])).toEqual([
      ['delivered', 1, 200, null],
      ['failed', 4, 500, 'answered 500'],
    ]);
  });

  it('sends one tenant’s events in sequence order, whatever fails on the way', async () => {
    const receiver = await startWebhookReceiver();
    // Every other event's first attempt fails: the retried event must still arrive before its
    // successors (a second attempt is answered, so none is given up).
    const seen = new Set<string>();
    receiver.answer(({ headers }) => {
      const id = String(headers['webhook-id']);
      if (seen.has(id)) return 200;
      seen.add(id);
      return seen.size % 2 === 1 ? 500 : 200;
    });
    const tenants = [await h.tenant('growth'), await h.tenant('growth')];
    await endpointFor(receiver);
    for (let deployments = 20; deployments < 26; deployments++) {
      for (const tenant of tenants) {
        expect((await putTenant(tenant, { overrides: { deployments } })).status).toBe(200);
      }
    }
    const attemptsOf = (tenant: string) =>
      receiver.received
        .filter((request) => request.body.includes(`"${tenant}"`))
        .map((request) => ({
          sequence: JSON.parse(request.body).data.sequence as number,
          status: request.status,
        }));
    for (const tenant of tenants) {
      // Every event delivered (a 500 is retried until a 200).
      await eventually(() => attemptsOf(tenant).filter((attempt) => attempt.status === 200).length === 6);
      const attempts = attemptsOf(tenant);
      const delivered = attempts
        .filter((attempt) => attempt.status === 200)
        .map((attempt) => attempt.sequence);
      expect(delivered).toEqual([...delivered].sort((a, b) => a - b));
      // No event was attempted before the one ahead of it was delivered.
      for (const [index, attempt] of attempts.entries()) {
        const ahead = delivered.filter((sequence) => sequence < attempt.sequence);
        const deliveredBefore = attempts
          .slice(0, index)
          .filter((earlier) => earlier.status === 200)
          .map((earlier) => earlier.sequence);
        expect(deliveredBefore).toEqual(ahead);
      }
    }
  });

  it('410 Gone disables the endpoint with a warning; its pending deliveries are failed', async () => {
    const tenant = await h.tenant('growth');
    const receiver = await startWebhookReceiver();
    receiver.answer([410]);
    const endpoint = await endpointFor(receiver);
    expect((await putTenant(tenant, { overrides: { deployments: 8 } })).status).toBe(200);
    await eventually(() => warnings.some((w) => w.fields['endpoint_id'] === endpoint.endpoint_id));
    expect(warnings.find((w) => w.fields['endpoint_id'] === endpoint.endpoint_id)).toEqual({
      message: 'webhook endpoint disabled',
      fields: { endpoint_id: endpoint.endpoint_id, url: receiver.url, reason: 'answered 410 Gone' },
    });
    const { endpoints } = (await (await sender.asAdmin('/admin/webhook-endpoints')).json()) as {
      endpoints: CreatedWebhookEndpoint[];
    };
    expect(endpoints.find((e) => e.endpoint_id === endpoint.endpoint_id)).toMatchObject({
      disabled_at: expect.any(String),
      disabled_reason: 'answered 410 Gone',
    });
    // Nothing more is sent or queued.
    expect((await putTenant(tenant, { overrides: { deployments: 9 } })).status).toBe(200);
    const deliveries = await deliveriesOf(endpoint.endpoint_id);
    expect(deliveries.map((d) => [d.status, d.last_status_code])).toEqual([['failed', 410]]);
    expect(receiver.received).toHaveLength(1);
    // A redelivery to a disabled endpoint is refused.
    const redeliver = await sender.asAdmin(
      `/admin/webhook-endpoints/${endpoint.endpoint_id}/deliveries/${deliveries[0]?.delivery_id}/redeliver`,
      { method: 'POST' },
    );
    expect(redeliver.status).toBe(409);
    expect(await redeliver.json()).toEqual({ detail: 'Webhook endpoint is disabled' });
  });

  it('redelivers a delivered event with the same webhook-id, audited', async () => {
    const tenant = await h.tenant('growth');
    const receiver = await startWebhookReceiver();
    const endpoint = await endpointFor(receiver);
    expect((await putTenant(tenant, { overrides: { deployments: 4 } })).status).toBe(200);
    await eventually(async () => (await deliveriesOf(endpoint.endpoint_id))[0]?.status === 'delivered');
    const [delivery] = await deliveriesOf(endpoint.endpoint_id);
    const res = await sender.asAdmin(
      `/admin/webhook-endpoints/${endpoint.endpoint_id}/deliveries/${delivery?.delivery_id}/redeliver`,
      { method: 'POST' },
    );
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ delivery_id: delivery?.delivery_id, status: 'pending' });
    await eventually(() => receiver.received.length === 2);
    expect(receiver.received[1]?.headers['webhook-id']).toBe(receiver.received[0]?.headers['webhook-id']);
    expect(receiver.received[1]?.body).toBe(receiver.received[0]?.body);
    await eventually(async () => (await deliveriesOf(endpoint.endpoint_id))[0]?.status === 'delivered');
    const audits = await h.db
      .select()
      .from(auditLog)
      .where(eq(auditLog.subjectId, delivery?.delivery_id ?? ''));
    expect(audits).toMatchObject([
      {
        actor: 'alice',
        action: 'webhook_delivery.redeliver',
        before: { status: 'delivered', attempts: 1 },
        after: { status: 'pending', attempts: 0 },
      },
    ]);
  });

  it('a redelivery asked for while an attempt is under way is sent after it', async () => {
    const tenant = await h.tenant('growth');
    const receiver = await startWebhookReceiver();
    let answerFirst: () => void = () => {};
    const firstHeld = new Promise<void>((held) => {
      receiver.answer(() => {
        if (receiver.received.length > 0) return 200;
        held();
        return new Promise<number>((resolve) => {
          answerFirst = () => resolve(200);
        });
      });
    });
    const endpoint = await endpointFor(receiver);
    expect((await putTenant(tenant, { overrides: { deployments: 6 } })).status).toBe(200);
    await firstHeld;
    const [delivery] = await deliveriesOf(endpoint.endpoint_id);
    const res = await sender.asAdmin(
      `/admin/webhook-endpoints/${endpoint.endpoint_id}/deliveries/${delivery?.delivery_id}/redeliver`,
      { method: 'POST' },
    );
    expect(res.status).toBe(202);
    answerFirst();
    // The first attempt's outcome does not close the delivery the operator reopened.
    await eventually(() => receiver.received.length === 2);
    await eventually(async () => (await deliveriesOf(endpoint.endpoint_id))[0]?.status === 'delivered');
    expect((await deliveriesOf(endpoint.endpoint_id))[0]).toMatchObject({
      attempts: 1,
      last_status_code: 200,
    });
    expect(receiver.received[1]?.headers['webhook-id']).toBe(receiver.received[0]?.headers['webhook-id']);
  });

  it('takes a type listed twice as one', async () => {
    const receiver = await startWebhookReceiver();
    const endpoint = await endpointFor(receiver, { events: ['limits.changed', 'limits.changed'] });
    expect(endpoint.events).toEqual(['limits.changed']);
    const tenant = await h.tenant('growth');
    await eventually(() => receiver.payloads(tenant).length === 1);
  });

  it('sends reservation.expired when a lease ends unrenewed, to the endpoints that take it; a release sends nothing', async () => {
    const tenant = await h.tenant('growth');
    const every = await startWebhookReceiver();
    const allTypes = await endpointFor(every);
    const limitsOnly = await startWebhookReceiver();
    await endpointFor(limitsOnly, { events: ['limits.changed'] });
    expect(allTypes.events).toEqual([
      'limits.changed',
      'reservation.expired',
      'limit.warning',
      'limit.reached',
      'limit.resolved',
    ]);
    const reserve = async (idempotencyKey: string) => {
      const res = await sender.asWorker('/billing/reservations', {
        ...json({
          resource: 'self_hosted_workers',
          quantity: 2,
          idempotency_key: idempotencyKey,
          lease_seconds: 30,
          reference: 'worker-7',
        }),
        headers: { 'content-type': 'application/json', 'tenant-id': tenant },
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { reservation_id: string }).reservation_id;
    };
    const [lapsing, released] = [await reserve('lapsing'), await reserve('released')];
    const deleted = await sender.asWorker(`/billing/reservations/${released}`, {
      method: 'DELETE',
      headers: { 'tenant-id': tenant },
    });
    expect(deleted.status).toBe(204);
    // The lease ran out: the sweep releases it.
    await h.db.execute(
      sql`update reservation set expires_at = now() - interval '1 second' where id = ${lapsing}`,
    );
    expect((await h.store.usage.expireLeases(500)).map((lease) => lease.reservationId)).toEqual([lapsing]);

    await eventually(() => every.payloads(tenant).length === 1);
    const [request] = every.received;
    const verified = new Webhook(allTypes.secret).verify(
      request?.body ?? '',
      request?.headers as Record<string, string>,
    );
    const [event] = await h.db
      .select()
      .from(billingEvent)
      .where(and(eq(billingEvent.tenantId, tenant), eq(billingEvent.type, 'reservation.expired')));
    expect(verified).toEqual({
      type: 'reservation.expired',
      timestamp: event?.createdAt.toISOString(),
      data: {
        tenant_id: tenant,
        reservation_id: lapsing,
        resource: 'self_hosted_workers',
        quantity: 2,
        reference: 'worker-7',
        sequence: event?.sequence,
      },
    });
    // One event in all: the release wrote none, and a second sweep finds nothing.
    expect(await h.store.usage.expireLeases(500)).toEqual([]);
    expect(
      await h.db
        .select()
        .from(billingEvent)
        .where(and(eq(billingEvent.tenantId, tenant), eq(billingEvent.type, 'reservation.expired'))),
    ).toHaveLength(1);
    expect(limitsOnly.received).toEqual([]);
  });

  it('prunes events past their retention with their deliveries, never one with a pending delivery', async () => {
    // A disabled endpoint: its deliveries stay as written (no dispatcher takes them).
    const endpoint = await h.store.outbox.createEndpoint(
      { url: 'https://93.184.215.14/hook', events: null, description: '', secret: 'whsec_AAAA' },
      'test',
    );
    await h.db
      .update(webhookEndpoint)
      .set({ disabledAt: new Date() })
      .where(eq(webhookEndpoint.id, endpoint.id));
    const write = async (daysAgo: number, status: 'pending' | 'delivered' | 'failed' | undefined) => {
      const [event] = await h.db
        .insert(billingEvent)
        .values({ type: 'limits.changed', tenantId: unique(), data: {} })
        .returning();
      if (!event) throw new Error('no event');
      await h.db
        .update(billingEvent)
        .set({ createdAt: new Date(Date.now() - daysAgo * 86_400_000) })
        .where(eq(billingEvent.sequence, event.sequence));
      if (status) {
        await h.db.insert(webhookDelivery).values({
          endpointId: endpoint.id,
          eventSequence: event.sequence,
          tenantId: event.tenantId,
          eventType: 'limits.changed',
          status,
        });
      }
      return event.sequence;
    };
    const old = [await write(10, undefined), await write(10, 'delivered'), await write(4, 'failed')];
    const oldButPending = await write(10, 'pending');
    const recent = await write(2, 'delivered');
    const remaining = async () =>
      (
        await h.db
          .select({ sequence: billingEvent.sequence })
          .from(billingEvent)
          .where(inArray(billingEvent.sequence, [...old, oldButPending, recent]))
          .orderBy(billingEvent.sequence)
      ).map((row) => row.sequence);

    // At most `limit` a call, oldest first.
    expect(await h.store.outbox.pruneEvents(3, 2)).toBe(2);
    expect(await remaining()).toEqual([old[2], oldButPending, recent]);
    expect(await h.store.outbox.pruneEvents(3, 100)).toBe(1);
    expect(await h.store.outbox.pruneEvents(3, 100)).toBe(0);
    expect(await remaining()).toEqual([oldButPending, recent]);
    const deliveries = await h.db
      .select({ sequence: webhookDelivery.eventSequence })
      .from(webhookDelivery)
      .where(eq(webhookDelivery.endpointId, endpoint.id));
    expect(deliveries.map((row) => row.sequence).sort()).toEqual([oldButPending, recent].sort());
    await h.store.outbox.deleteEndpoint(endpoint.id, 'test');
  });

  it('no event and no change when the transaction is cut short', async () => {
    const tenant = await h.tenant('growth');
    // An event that cannot be written fails the whole write: the change goes with it.
    await h.db.execute(
      sql.raw(`create function refuse_event() returns trigger language plpgsql as $$
        begin if new.tenant_id = '${tenant}' then raise exception 'event refused'; end if; return new; end $$`),
    );
    await h.db.execute(
      sql.raw(
        'create trigger refuse_event before insert on billing_event for each row execute function refuse_event()',
      ),
    );
    try {
      const res = await putTenant(tenant, { overrides: { deployments: 13 } });
      expect(res.status).toBe(500);
      expect(await h.db.select().from(billingEvent).where(eq(billingEvent.tenantId, tenant))).toHaveLength(1);
      const [row] = await h.db
        .select()
        .from(organizationToAccount)
        .where(eq(organizationToAccount.organizationId, tenant));
      expect(row?.deploymentAllowance).toBeNull();
    } finally {
      await h.db.execute(sql.raw('drop trigger refuse_event on billing_event'));
      await h.db.execute(sql.raw('drop function refuse_event()'));
    }
    expect((await putTenant(tenant, { overrides: { deployments: 13 } })).status).toBe(200);
    expect(await h.db.select().from(billingEvent).where(eq(billingEvent.tenantId, tenant))).toHaveLength(2);
  });
});

const unique = (prefix = 'org') => `${prefix}-${randomUUID().slice(0, 8)}`;
