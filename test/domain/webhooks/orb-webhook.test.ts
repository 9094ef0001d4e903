import { randomUUID } from 'node:crypto';
import { desc, eq, like } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { auditLog, customer as customerTable, plan, webhookEvent } from '../../../src/db/schema.js';
import type { BillingStore } from '../../../src/domain/store.js';
import { eventuallyReads } from '../../support/eventually.js';
import {
  createHarness,
  type Harness,
  ORB_SECRET,
  STORE_KINDS,
  type StoreKind,
  unique,
  useHarness,
} from '../../support/harness.js';
import { orbDelivery, orbSignature, orbTimestamp, subscriptionEvent } from '../../support/orb.js';

describe.each(STORE_KINDS)('POST /webhooks/orb on %s', (kind: StoreKind) => {
  const warnings: { message: string; fields: Record<string, unknown> }[] = [];
  const h = useHarness({
    store: kind,
    hooks: { warn: (message, fields) => warnings.push({ message, fields }) },
  });

  const deliver = (body: string, headers: Parameters<typeof orbDelivery>[1] = {}, target: Harness = h) =>
    target.request('/webhooks/orb', orbDelivery(body, headers));
  const receipt = async (res: Response) => {
    expect(res.status).toBe(200);
    return (await res.json()) as { event_id: string; outcome: string };
  };
  const planOf = async (tenantId: string, target: Harness = h) => (await target.limits(tenantId)).plan_type;
  const recorded = (id: string) => h.db.select().from(webhookEvent).where(eq(webhookEvent.id, id));
  async function tenantOn(planId: 'free' | 'growth' | 'enterprise', target: Harness = h) {
    const customer = unique('cus');
    const tenant = await target.tenant(planId, { customer_id: customer });
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
        const [entry] = await h.db
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
      const growthByDefault = h.withApp({ config: { orbDefaultPlan: 'growth' } });
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
      await h.store.tenants.putTenant(tenant, { customer_id: customer }, 'test');
      expect(await planOf(tenant)).toBe('enterprise');
    });

    it('maps Orb plans through the catalog’s external plan id', async () => {
      // The catalog is every tenant's: this test changes it on a database of its own.
      const own = await createHarness({ store: kind });
      await own.db.update(plan).set({ orbExternalPlanId: 'orb-growth-2026' }).where(eq(plan.id, 'growth'));
      const { customer, tenant } = await tenantOn('free', own);
      const res = await deliver(
        subscriptionEvent({
          id: unique('evt'),
          type: 'subscription.plan_changed',
          customer,
          plan: 'orb-growth-2026',
        }),
        {},
        own,
      );
      expect((await receipt(res)).outcome).toBe('applied');
      expect(await planOf(tenant, own)).toBe('growth');
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
      await h.store.tenants.putTenant(tenant, { plan_id: 'enterprise' }, 'test'); // changed since
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

  describe('malformed Orb ids: recorded as rejected, answered 200 (Orb stops retrying), nothing applied', () => {
    const customersLike = (prefix: string) =>
      h.db
        .select()
        .from(customerTable)
        .where(like(customerTable.id, `${prefix}%`));
    const auditOf = (subjectId: string) =>
      h.db.select().from(auditLog).where(eq(auditLog.subjectId, subjectId));

    it.each([
      ['a NUL in external_customer_id', '\u0000', 'contains a control character'],
      ['a control character in external_customer_id', '\u0001', 'contains a control character'],
      ['a DEL in external_customer_id', '\u007f', 'contains a control character'],
      ['a C1 control character in external_customer_id', '\u0085', 'contains a control character'],
      ['an external_customer_id over 255 characters', 'x'.repeat(250), 'is longer than 255 characters'],
      ['a lone UTF-16 surrogate in external_customer_id', '\ud800', 'is not well-formed Unicode'],
    ])('%s: no customer is created', async (_, suffix, reason) => {
      const prefix = unique('cus');
      const id = unique('evt');
      const before = warnings.length;
      const res = await deliver(
        subscriptionEvent({
          id,
          type: 'subscription.created',
          customer: `${prefix}${suffix}`,
          plan: 'growth',
        }),
      );
      expect(await receipt(res)).toEqual({ event_id: id, outcome: 'rejected' });
      const field = 'subscription.customer.external_customer_id';
      expect(await recorded(id)).toMatchObject([
        { outcome: 'rejected', customerId: null, detail: { field, reason } },
      ]);
      expect(await customersLike(prefix)).toEqual([]);
      expect(warnings.slice(before)).toEqual([
        {
          message: 'orb webhook: rejected, nothing applied',
          fields: { event_id: id, type: 'subscription.created', field, reason },
        },
      ]);
      // Orb's redelivery of it changes nothing either.
      expect(
        await receipt(
          await deliver(
            subscriptionEvent({
              id,
              type: 'subscription.created',
              customer: `${prefix}${suffix}`,
              plan: 'growth',
            }),
          ),
        ),
      ).toEqual({ event_id: id, outcome: 'duplicate' });
    });

    it('an empty external_customer_id', async () => {
      const id = unique('evt');
      const res = await deliver(
        subscriptionEvent({ id, type: 'subscription.created', customer: '', plan: 'growth' }),
      );
      expect(await receipt(res)).toEqual({ event_id: id, outcome: 'rejected' });
      expect(await recorded(id)).toMatchObject([
        {
          outcome: 'rejected',
          detail: { field: 'subscription.customer.external_customer_id', reason: 'is empty' },
        },
      ]);
    });

    it.each([
      ['a NUL', '\u0000', 'contains a control character'],
      ['a control character', '\u0001', 'contains a control character'],
      ['a lone UTF-16 surrogate', '\udc00', 'is not well-formed Unicode'],
    ])('%s in external_plan_id: the plan is left as it was', async (_, suffix, reason) => {
      const { customer, tenant } = await tenantOn('free');
      const id = unique('evt');
      const res = await deliver(
        subscriptionEvent({ id, type: 'subscription.plan_changed', customer, plan: `growth${suffix}` }),
      );
      expect(await receipt(res)).toEqual({ event_id: id, outcome: 'rejected' });
      expect(await recorded(id)).toMatchObject([
        {
          outcome: 'rejected',
          customerId: customer,
          detail: { field: 'subscription.plan.external_plan_id', reason },
        },
      ]);
      expect(await planOf(tenant)).toBe('free');
      expect(await auditOf(customer)).toHaveLength(0);
    });

    it('a NUL in the event id: recorded under its printable form, a redelivery is a duplicate', async () => {
      const { customer, tenant } = await tenantOn('free');
      const id = `${unique('evt')}\u0000x`;
      const key = id.replace('\u0000', '\\u0000');
      const body = subscriptionEvent({ id, type: 'subscription.plan_changed', customer, plan: 'growth' });
      const before = warnings.length;
      expect(await receipt(await deliver(body))).toEqual({ event_id: key, outcome: 'rejected' });
      expect(await recorded(key)).toMatchObject([
        {
          outcome: 'rejected',
          customerId: customer,
          detail: { field: 'id', reason: 'contains a control character' },
        },
      ]);
      expect(warnings.slice(before)).toMatchObject([
        { message: 'orb webhook: rejected, nothing applied', fields: { event_id: key, field: 'id' } },
      ]);
      expect(await planOf(tenant)).toBe('free');
      expect(await receipt(await deliver(body))).toEqual({ event_id: key, outcome: 'duplicate' });
      const listed = await h.asAdmin(`/admin/webhook-events?customer_id=${customer}`);
      expect(((await listed.json()) as { events: unknown[] }).events).toMatchObject([
        { event_id: key, outcome: 'rejected', detail: { field: 'id' } },
      ]);
    });

    it('a lone UTF-16 surrogate in the event id: recorded under its printable form', async () => {
      const id = `${unique('evt')}\ud800`;
      const key = id.replace('\ud800', '\\ud800');
      const body = subscriptionEvent({ id, type: 'subscription.started', customer: 'c', plan: 'growth' });
      expect(await receipt(await deliver(body))).toEqual({ event_id: key, outcome: 'rejected' });
      expect(await recorded(key)).toMatchObject([
        { outcome: 'rejected', detail: { field: 'id', reason: 'is not well-formed Unicode' } },
      ]);
      expect(await receipt(await deliver(body))).toEqual({ event_id: key, outcome: 'duplicate' });
    });

    it('an event id over 255 characters', async () => {
      const id = `${unique('evt')}${'x'.repeat(260)}`;
      const res = await deliver(
        subscriptionEvent({ id, type: 'subscription.started', customer: 'c', plan: 'growth' }),
      );
      expect(await receipt(res)).toEqual({ event_id: id, outcome: 'rejected' });
      expect(await recorded(id)).toMatchObject([
        { outcome: 'rejected', detail: { field: 'id', reason: 'is longer than 255 characters' } },
      ]);
    });

    it('a NUL in the event type: recorded with its printable form', async () => {
      const { customer, tenant } = await tenantOn('free');
      const id = unique('evt');
      const res = await deliver(
        subscriptionEvent({ id, type: 'subscription.plan_changed\u0000', customer, plan: 'growth' }),
      );
      expect(await receipt(res)).toEqual({ event_id: id, outcome: 'rejected' });
      expect(await recorded(id)).toMatchObject([
        {
          outcome: 'rejected',
          type: 'subscription.plan_changed\\u0000',
          detail: { field: 'type', reason: 'contains a control character' },
        },
      ]);
      expect(await planOf(tenant)).toBe('free');
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
      ['no timestamp', { timestamp: undefined }, 'Missing X-Orb-Timestamp header'],
      ['no signature', { signature: undefined }, 'Missing X-Orb-Signature header'],
      ['a malformed timestamp', { timestamp: 'yesterday' }, 'Invalid X-Orb-Timestamp header'],
      [
        'a stale timestamp',
        { timestamp: orbTimestamp(new Date(Date.now() - 600_000)) },
        'Webhook timestamp too old',
      ],
      [
        'a future timestamp',
        { timestamp: orbTimestamp(new Date(Date.now() + 600_000)) },
        'Webhook timestamp too new',
      ],
      ['a wrong signature', { signature: `v1=${'0'.repeat(64)}` }, 'No matching signature'],
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
        timestamp,
        signature: orbSignature('another-secret', timestamp, payload),
      });
      expect(otherSecret.status).toBe(400);
      const tampered = await deliver(payload.replace('growth', 'enterprise'), {
        timestamp,
        signature: orbSignature(ORB_SECRET, timestamp, payload),
      });
      expect(await tampered.json()).toEqual({ detail: 'No matching signature' });
    });

    it('judges the timestamp on the app’s clock', async () => {
      const later = h.withApp({});
      await later.clock.advance(6 * 60_000);
      const payload = body();
      const res = await deliver(payload, {}, later);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ detail: 'Webhook timestamp too old' });
      expect(await recorded((JSON.parse(payload) as { id: string }).id)).toHaveLength(0);
    });

    it('refuses signed bodies that are not JSON or not an event', async () => {
      expect(await (await deliver('not json')).json()).toEqual({ detail: 'Invalid JSON payload' });
      expect(await (await deliver('{"type":"x"}')).json()).toEqual({
        detail: 'Invalid webhook payload: id: required',
      });
    });

    const event = (fields: Record<string, unknown>) =>
      JSON.stringify({
        id: unique('evt'),
        type: 'subscription.started',
        created_at: '2026-11-24T12:00:00Z',
        ...fields,
      });
    it.each([
      [
        'created_at without a UTC offset',
        event({ created_at: '2026-11-24T12:00:00' }),
        'created_at: expected an ISO 8601 date-time with a UTC offset (e.g. 2026-11-24T12:00:00+00:00)',
      ],
      [
        'created_at that is no date',
        event({ created_at: 'yesterday' }),
        'created_at: expected an ISO 8601 date-time with a UTC offset (e.g. 2026-11-24T12:00:00+00:00)',
      ],
      ['no created_at', event({ created_at: undefined }), 'created_at: required'],
      [
        'created_at in year 0 (PostgreSQL has none)',
        event({ created_at: '0000-01-01T00:00:00Z' }),
        'created_at: expected a time between the years 0001 and 9999 UTC',
      ],
      [
        'created_at past 9999 in UTC',
        event({ created_at: '9999-12-31T23:00:00-02:00' }),
        'created_at: expected a time between the years 0001 and 9999 UTC',
      ],
      ['an id that is a number', event({ id: 42 }), 'id: expected a string'],
      ['an empty type', event({ type: '' }), 'type: must not be empty'],
      [
        'an external customer id that is a number',
        event({ subscription: { customer: { external_customer_id: 7 } } }),
        'subscription.customer.external_customer_id: expected a string or null',
      ],
      [
        'a subscription that is a list',
        event({ subscription: [] }),
        'subscription: expected an object or null',
      ],
      ['a body that is a list', '[]', 'body: expected an object'],
    ])('names the offending field and the reason: %s', async (_, payload, reason) => {
      const before = warnings.length;
      const res = await deliver(payload);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ detail: `Invalid webhook payload: ${reason}` });
      expect(warnings.slice(before)).toEqual([
        { message: 'orb webhook refused', fields: { reason: `Invalid webhook payload: ${reason}` } },
      ]);
    });

    it('refuses a body over 256 KiB with 413 before reading it', async () => {
      const res = await deliver(JSON.stringify({ pad: 'x'.repeat(300 * 1024) }));
      expect(res.status).toBe(413);
    });
  });

  it('answers 503 when the store fails, recording nothing, so Orb retries', async () => {
    const failing: BillingStore = {
      ...h.store,
      webhooks: {
        ...h.store.webhooks,
        recordOrbEvent: () => Promise.reject(new Error('connect ECONNREFUSED')),
      },
    };
    const broken = h.withApp({ dependencies: { store: failing } });
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
    const off = h.withApp({ config: { orbWebhookSecret: undefined } });
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
    const res = await h.asAdmin(`/admin/webhook-events?customer_id=${customer}&limit=10`);
    expect(res.status).toBe(200);
    const { events } = (await res.json()) as { events: { event_id: string; outcome: string }[] };
    expect(events.map((e) => [e.event_id, e.outcome])).toEqual([
      [second, 'unmapped_plan'],
      [first, 'applied'],
    ]);
    const limited = await h.asAdmin(`/admin/webhook-events?customer_id=${customer}&limit=1`);
    expect(((await limited.json()) as { events: unknown[] }).events).toHaveLength(1);
    const invalid = await h.asAdmin('/admin/webhook-events?limit=0');
    expect(invalid.status).toBe(422);
    expect(await invalid.json()).toMatchObject({
      detail: [{ loc: ['query', 'limit'], type: 'greater_than_equal' }],
    });
  });
});

describe.runIf(STORE_KINDS.includes('postgres'))('an Orb event on another replica', () => {
  // "Within a second" is the product's promise, measured by scripts/bench/propagation.ts; here: the
  // change arrives through the notification at all, long before the hour-long TTL (on a test clock).
  it('changes the limits served by a second instance once notified, not after the TTL', async () => {
    const receiving = await createHarness({ store: 'postgres' });
    const serving = receiving.withApp({
      dependencies: { store: await receiving.database.openReplica() },
      config: { cacheTtlMs: 3_600_000 },
    });
    const customer = `cus-${randomUUID()}`;
    const tenant = await receiving.tenant('free', { customer_id: customer });
    const planOnReplica = async () => (await serving.limits(tenant)).plan_type;
    expect(await planOnReplica()).toBe('free');
    const body = subscriptionEvent({
      id: `evt-${randomUUID()}`,
      type: 'subscription.plan_changed',
      customer,
      plan: 'growth',
    });
    const res = await receiving.request('/webhooks/orb', orbDelivery(body));
    expect(res.status).toBe(200);
    await eventuallyReads(planOnReplica, 'growth');
  });
});
