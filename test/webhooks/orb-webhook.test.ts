import { randomUUID } from 'node:crypto';
import { desc, eq } from 'drizzle-orm';
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBillingApp } from '../../src/app.js';
import { auditLog, plan, webhookEvent } from '../../src/db/schema.js';
import type { LimitsStore } from '../../src/limits/limits-store.js';
import { orbSignature, orbTimestamp, subscriptionEvent } from '../support/orb.js';
import { openTestDatabase, STORE_KINDS, type TestDatabase } from '../support/test-store.js';
import { adminToken, workerToken } from '../support/tokens.js';

const WORKER_SECRET = 'worker-secret-for-orb-webhook-tests-00001';
const ADMIN_SECRET = 'admin-secret-for-orb-webhook-tests-000001';
const ORB_SECRET = 'orb-webhook-secret-for-tests-000000000001';

describe.each(STORE_KINDS)('POST /webhooks/orb on %s', (kind) => {
  let database: TestDatabase;
  let app: Hono;
  let worker: string;
  const warnings: { message: string; fields: Record<string, unknown> }[] = [];
  beforeAll(async () => {
    database = await openTestDatabase(kind);
    app = createBillingApp({
      secret: WORKER_SECRET,
      adminSecret: ADMIN_SECRET,
      orbWebhookSecret: ORB_SECRET,
      store: database.store,
      warn: (message, fields) => warnings.push({ message, fields }),
    });
    worker = await workerToken(WORKER_SECRET);
  });
  afterAll(() => database?.close());

  const unique = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;
  const deliver = (body: string, headers: Record<string, string | undefined> = {}, target = app) => {
    const timestamp = 'x-orb-timestamp' in headers ? headers['x-orb-timestamp'] : orbTimestamp();
    const signature =
      'x-orb-signature' in headers
        ? headers['x-orb-signature']
        : orbSignature(ORB_SECRET, timestamp ?? '', body);
    const sent: Record<string, string> = { 'content-type': 'application/json' };
    if (timestamp !== undefined) sent['x-orb-timestamp'] = timestamp;
    if (signature !== undefined) sent['x-orb-signature'] = signature;
    return target.request('/webhooks/orb', { method: 'POST', headers: sent, body });
  };
  const receipt = async (res: Response) => {
    expect(res.status).toBe(200);
    return (await res.json()) as { event_id: string; outcome: string };
  };
  const planOf = async (tenantId: string, target = app) => {
    const res = await target.request('/billing/limits', {
      headers: { authorization: `Bearer ${worker}`, 'tenant-id': tenantId },
    });
    return ((await res.json()) as { limits: { plan_type: string } }).limits.plan_type;
  };
  const recorded = (id: string) =>
    database.handle.db.select().from(webhookEvent).where(eq(webhookEvent.id, id));
  async function tenantOn(planId: 'free' | 'growth' | 'enterprise') {
    const customer = unique('cus');
    const tenant = unique('org');
    await database.store.putTenant(tenant, { planId, customerId: customer }, 'test');
    return { customer, tenant };
  }

  describe('events that change a plan', () => {
    it.each(['subscription.created', 'subscription.started', 'subscription.plan_changed'])(
      '%s puts the customer on the mapped plan, answered at once (no cache TTL wait)',
      async (type) => {
        const { customer, tenant } = await tenantOn('free');
        expect(await planOf(tenant)).toBe('free'); // now cached
        const id = unique('evt');
        const res = await deliver(subscriptionEvent({ id, type, customer, plan: 'growth' }));
        expect(await receipt(res)).toEqual({ event_id: id, outcome: 'applied' });
        expect(await planOf(tenant)).toBe('growth');
        const [entry] = await database.handle.db
          .select()
          .from(auditLog)
          .where(eq(auditLog.subjectId, customer))
          .orderBy(desc(auditLog.id));
        expect(entry).toMatchObject({ actor: 'orb', action: type, before: { planId: 'free' } });
        expect(entry?.after).toMatchObject({ planId: 'growth', event_id: id });
      },
    );

    it('subscription.ended puts the customer back on the default plan', async () => {
      const { customer, tenant } = await tenantOn('enterprise');
      const res = await deliver(
        subscriptionEvent({ id: unique('evt'), type: 'subscription.ended', customer, plan: 'enterprise' }),
      );
      expect((await receipt(res)).outcome).toBe('applied');
      expect(await planOf(tenant)).toBe('free');
    });

    it('subscription.ended uses the configured default plan (ORB_DEFAULT_PLAN)', async () => {
      const growthByDefault = createBillingApp({
        secret: WORKER_SECRET,
        orbWebhookSecret: ORB_SECRET,
        orbDefaultPlan: 'growth',
        store: database.store,
      });
      const { customer, tenant } = await tenantOn('enterprise');
      const ended = subscriptionEvent({
        id: unique('evt'),
        type: 'subscription.ended',
        customer,
        plan: 'enterprise',
      });
      expect((await receipt(await deliver(ended, {}, growthByDefault))).outcome).toBe('applied');
      expect(await planOf(tenant, growthByDefault)).toBe('growth');
    });

    it('creates a customer Orb knows before we do; organizations mapped later share its plan', async () => {
      const customer = unique('cus');
      const res = await deliver(
        subscriptionEvent({ id: unique('evt'), type: 'subscription.created', customer, plan: 'enterprise' }),
      );
      expect((await receipt(res)).outcome).toBe('applied');
      const tenant = unique('org');
      await database.store.putTenant(tenant, { customerId: customer }, 'test');
      expect(await planOf(tenant)).toBe('enterprise');
    });

    it('maps Orb plans through the catalog’s external plan id', async () => {
      await database.handle.db
        .update(plan)
        .set({ orbExternalPlanId: 'orb-growth-2026' })
        .where(eq(plan.id, 'growth'));
      try {
        const { customer, tenant } = await tenantOn('free');
        const res = await deliver(
          subscriptionEvent({
            id: unique('evt'),
            type: 'subscription.plan_changed',
            customer,
            plan: 'orb-growth-2026',
          }),
        );
        expect((await receipt(res)).outcome).toBe('applied');
        expect(await planOf(tenant)).toBe('growth');
      } finally {
        await database.handle.db
          .update(plan)
          .set({ orbExternalPlanId: 'growth' })
          .where(eq(plan.id, 'growth'));
      }
    });
  });

  describe('exactly once, in order', () => {
    it('answers a replay 200 and changes nothing', async () => {
      const { customer, tenant } = await tenantOn('free');
      const body = subscriptionEvent({
        id: unique('evt'),
        type: 'subscription.plan_changed',
        customer,
        plan: 'growth',
      });
      expect((await receipt(await deliver(body))).outcome).toBe('applied');
      await database.store.putTenant(tenant, { planId: 'enterprise' }, 'test'); // changed since
      expect((await receipt(await deliver(body))).outcome).toBe('duplicate');
      expect(await planOf(tenant)).toBe('enterprise');
    });

    it('applies one of ten concurrent deliveries of the same event', async () => {
      const { customer } = await tenantOn('free');
      const id = unique('evt');
      const body = subscriptionEvent({ id, type: 'subscription.plan_changed', customer, plan: 'growth' });
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, async () => (await receipt(await deliver(body))).outcome),
      );
      expect(outcomes.filter((o) => o === 'applied')).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(9);
      expect(await recorded(id)).toHaveLength(1);
    });

    it('records an event older than the last one applied as stale, and does not apply it', async () => {
      const { customer, tenant } = await tenantOn('free');
      const now = Date.now();
      const newer = subscriptionEvent({
        id: unique('evt'),
        type: 'subscription.plan_changed',
        customer,
        plan: 'growth',
        createdAt: new Date(now - 1_000),
      });
      const older = subscriptionEvent({
        id: unique('evt'),
        type: 'subscription.plan_changed',
        customer,
        plan: 'enterprise',
        createdAt: new Date(now - 60_000),
      });
      expect((await receipt(await deliver(newer))).outcome).toBe('applied');
      expect((await receipt(await deliver(older))).outcome).toBe('stale');
      expect(await planOf(tenant)).toBe('growth');
    });
  });

  describe('events that change nothing', () => {
    it('records a type we do not use as ignored', async () => {
      const id = unique('evt');
      const res = await deliver(
        JSON.stringify({ id, type: 'invoice.issued', created_at: '2026-11-24T12:00:00+00:00' }),
      );
      expect(await receipt(res)).toEqual({ event_id: id, outcome: 'ignored' });
      expect(await recorded(id)).toMatchObject([{ outcome: 'ignored', type: 'invoice.issued' }]);
    });

    it('records an Orb plan no catalog plan maps to, leaves the plan, and warns the operator', async () => {
      const { customer, tenant } = await tenantOn('free');
      const id = unique('evt');
      const res = await deliver(
        subscriptionEvent({ id, type: 'subscription.plan_changed', customer, plan: 'plan_gold' }),
      );
      expect((await receipt(res)).outcome).toBe('unmapped_plan');
      expect(await planOf(tenant)).toBe('free');
      expect(await recorded(id)).toMatchObject([
        { outcome: 'unmapped_plan', detail: { external_plan_id: 'plan_gold' } },
      ]);
      expect(
        warnings.some((w) => w.fields['event_id'] === id && w.fields['external_plan_id'] === 'plan_gold'),
      ).toBe(true);
    });

    it('records a subscription event without a plan or without a customer', async () => {
      const { customer } = await tenantOn('free');
      const noPlan = await deliver(
        subscriptionEvent({ id: unique('evt'), type: 'subscription.started', customer, plan: null }),
      );
      expect((await receipt(noPlan)).outcome).toBe('unmapped_plan');
      const noCustomer = await deliver(
        subscriptionEvent({
          id: unique('evt'),
          type: 'subscription.started',
          customer: null,
          plan: 'growth',
        }),
      );
      expect((await receipt(noCustomer)).outcome).toBe('unmapped_customer');
    });
  });

  describe('refused deliveries: 400 with the reason, nothing recorded, the body never logged', () => {
    const body = () =>
      subscriptionEvent({
        id: unique('evt'),
        type: 'subscription.plan_changed',
        customer: 'c',
        plan: 'growth',
      });
    it.each([
      ['no timestamp', { 'x-orb-timestamp': undefined }, 'Missing X-Orb-Timestamp header'],
      ['no signature', { 'x-orb-signature': undefined }, 'Missing X-Orb-Signature header'],
      ['a malformed timestamp', { 'x-orb-timestamp': 'yesterday' }, 'Invalid X-Orb-Timestamp header'],
      [
        'a stale timestamp',
        { 'x-orb-timestamp': orbTimestamp(new Date(Date.now() - 600_000)) },
        'Webhook timestamp too old',
      ],
      [
        'a future timestamp',
        { 'x-orb-timestamp': orbTimestamp(new Date(Date.now() + 600_000)) },
        'Webhook timestamp too new',
      ],
      ['a wrong signature', { 'x-orb-signature': `v1=${'0'.repeat(64)}` }, 'No matching signature'],
    ])('%s', async (_, headers, detail) => {
      const payload = body();
      const before = warnings.length;
      const res = await deliver(payload, headers);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ detail });
      const id = (JSON.parse(payload) as { id: string }).id;
      expect(await recorded(id)).toHaveLength(0);
      expect(warnings.slice(before)).toEqual([
        { message: 'orb webhook refused', fields: { reason: detail } },
      ]);
    });

    it('refuses a body signed with another secret, or changed after signing', async () => {
      const payload = body();
      const timestamp = orbTimestamp();
      const otherSecret = await deliver(payload, {
        'x-orb-timestamp': timestamp,
        'x-orb-signature': orbSignature('another-secret', timestamp, payload),
      });
      expect(otherSecret.status).toBe(400);
      const tampered = await deliver(payload.replace('growth', 'enterprise'), {
        'x-orb-timestamp': timestamp,
        'x-orb-signature': orbSignature(ORB_SECRET, timestamp, payload),
      });
      expect(await tampered.json()).toEqual({ detail: 'No matching signature' });
    });

    it('refuses signed bodies that are not JSON or not an event', async () => {
      expect(await (await deliver('not json')).json()).toEqual({ detail: 'Invalid JSON payload' });
      expect(await (await deliver('{"type":"x"}')).json()).toEqual({ detail: 'Invalid webhook payload' });
    });

    it('refuses a body over 256 KiB with 413 before reading it', async () => {
      const res = await deliver(JSON.stringify({ pad: 'x'.repeat(300 * 1024) }));
      expect(res.status).toBe(413);
    });
  });

  it('answers 503 when the store fails, recording nothing, so Orb retries', async () => {
    const failing: LimitsStore = {
      ...database.store,
      recordOrbEvent: () => Promise.reject(new Error('connect ECONNREFUSED')),
    };
    const broken = createBillingApp({ secret: WORKER_SECRET, orbWebhookSecret: ORB_SECRET, store: failing });
    const id = unique('evt');
    const res = await deliver(
      subscriptionEvent({ id, type: 'subscription.started', customer: 'c', plan: 'growth' }),
      {},
      broken,
    );
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ detail: 'Limits store unavailable' });
    expect(await recorded(id)).toHaveLength(0);
  });

  it('is off (404) without ORB_WEBHOOK_SECRET', async () => {
    const off = createBillingApp({ secret: WORKER_SECRET, store: database.store });
    expect((await deliver('{}', {}, off)).status).toBe(404);
  });

  it('lists what arrived for a customer, newest first, for admins', async () => {
    const { customer } = await tenantOn('free');
    const first = unique('evt');
    const second = unique('evt');
    await deliver(subscriptionEvent({ id: first, type: 'subscription.started', customer, plan: 'growth' }));
    await deliver(
      subscriptionEvent({ id: second, type: 'subscription.plan_changed', customer, plan: 'plan_gold' }),
    );
    const admin = await adminToken(ADMIN_SECRET);
    const res = await app.request(`/admin/webhook-events?customer_id=${customer}&limit=10`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(res.status).toBe(200);
    const { events } = (await res.json()) as { events: { event_id: string; outcome: string }[] };
    expect(events.map((e) => [e.event_id, e.outcome])).toEqual([
      [second, 'unmapped_plan'],
      [first, 'applied'],
    ]);
    const limited = await app.request(`/admin/webhook-events?customer_id=${customer}&limit=1`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(((await limited.json()) as { events: unknown[] }).events).toHaveLength(1);
    const invalid = await app.request('/admin/webhook-events?limit=0', {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(invalid.status).toBe(422);
    expect(await invalid.json()).toMatchObject({
      detail: [{ loc: ['query', 'limit'], type: 'greater_than_equal' }],
    });
  });
});

describe.runIf(STORE_KINDS.includes('postgres'))('an Orb event on another replica', () => {
  it('changes the limits served by a second instance within a second', async () => {
    const database = await openTestDatabase('postgres');
    try {
      const replica = await database.openReplica();
      const receiving = createBillingApp({
        secret: WORKER_SECRET,
        orbWebhookSecret: ORB_SECRET,
        store: database.store,
      });
      const serving = createBillingApp({
        secret: WORKER_SECRET,
        store: replica.store,
        cacheTtlMs: 3_600_000,
      });
      const worker = await workerToken(WORKER_SECRET);
      const customer = `cus-${randomUUID()}`;
      const tenant = `org-${randomUUID()}`;
      await database.store.putTenant(tenant, { planId: 'free', customerId: customer }, 'test');
      const planOnReplica = async () =>
        (
          (await (
            await serving.request('/billing/limits', {
              headers: { authorization: `Bearer ${worker}`, 'tenant-id': tenant },
            })
          ).json()) as { limits: { plan_type: string } }
        ).limits.plan_type;
      expect(await planOnReplica()).toBe('free');
      const body = subscriptionEvent({
        id: `evt-${randomUUID()}`,
        type: 'subscription.plan_changed',
        customer,
        plan: 'growth',
      });
      const timestamp = orbTimestamp();
      const res = await receiving.request('/webhooks/orb', {
        method: 'POST',
        headers: {
          'x-orb-timestamp': timestamp,
          'x-orb-signature': orbSignature(ORB_SECRET, timestamp, body),
        },
        body,
      });
      expect(res.status).toBe(200);
      const sent = Date.now();
      while ((await planOnReplica()) !== 'growth' && Date.now() - sent < 1_000) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(await planOnReplica()).toBe('growth');
    } finally {
      await database.close();
    }
  });
});
