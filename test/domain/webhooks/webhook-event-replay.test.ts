import { and, desc, eq, like } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { PlanType } from '../../../src/contract/plans.js';
import { auditLog, customer as customerTable, webhookEvent } from '../../../src/db/schema.js';
import {
  createHarness,
  type Harness,
  STORE_KINDS,
  type StoreKind,
  trpcPath,
  unique,
  useHarness,
} from '../../support/harness.js';
import { orbDelivery, subscriptionEvent } from '../../support/orb.js';

interface EventView {
  event_id: string;
  outcome: string;
  detail: Record<string, unknown> | null;
}

describe.each(STORE_KINDS)('POST /admin/webhook-events/{eventId}/replay on %s', (kind: StoreKind) => {
  // Tests that map an Orb plan change the catalog, every tenant's: they run on a database of their own.
  const shared = useHarness({ store: kind });

  const deliver = async (h: Harness, fields: Parameters<typeof subscriptionEvent>[0]) => {
    const res = await h.request('/webhooks/orb', orbDelivery(subscriptionEvent(fields)));
    expect(res.status).toBe(200);
    return ((await res.json()) as { outcome: string }).outcome;
  };
  const replay = async (h: Harness, eventId: string, subject = 'dave') =>
    h.request(`/admin/webhook-events/${encodeURIComponent(eventId)}/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await h.adminToken(subject)}`, 'content-type': 'application/json' },
      body: '{}',
    });
  const listed = async (h: Harness, customer: string) => {
    const res = await h.asAdmin(`/admin/webhook-events?customer_id=${encodeURIComponent(customer)}`);
    return ((await res.json()) as { events: EventView[] }).events;
  };
  const mapOrbPlan = async (h: Harness, planId: PlanType, orbPlanId: string) => {
    const [current] = (await h.store.tenants.listPlans()).filter((p) => p.plan_id === planId);
    if (!current) throw new Error(`no plan ${planId}`);
    await h.store.tenants.updatePlan(
      planId,
      {
        deployments: current.deployments,
        self_hosted_workers: current.self_hosted_workers,
        orb_external_plan_id: orbPlanId,
      },
      'test',
    );
  };
  const auditOf = (h: Harness, subjectId: string) =>
    h.db.select().from(auditLog).where(eq(auditLog.subjectId, subjectId)).orderBy(desc(auditLog.id));
  async function unmappedEvent(h: Harness, createdAt = new Date()) {
    const customer = unique('cus');
    const tenant = await h.tenant('free', { customer_id: customer });
    const id = unique('evt');
    const orbPlan = unique('orb-gold');
    expect(
      await deliver(h, { id, type: 'subscription.plan_changed', customer, plan: orbPlan, createdAt }),
    ).toBe('unmapped_plan');
    return { customer, tenant, id, orbPlan };
  }

  it('applies an unmapped_plan event once its plan is mapped: answered as listed, audited, served at once', async () => {
    const h = await createHarness({ store: kind });
    const { customer, tenant, id, orbPlan } = await unmappedEvent(h);
    expect((await h.limits(tenant)).plan_type).toBe('free'); // now cached
    await mapOrbPlan(h, 'enterprise', orbPlan);

    const res = await replay(h, id, 'dave');
    expect(res.status).toBe(200);
    const body = (await res.json()) as EventView;
    expect(body).toMatchObject({
      event_id: id,
      type: 'subscription.plan_changed',
      customer_id: customer,
      outcome: 'applied',
      detail: { plan_id: 'enterprise' },
    });
    expect(await listed(h, customer)).toEqual([body]);
    expect((await h.limits(tenant)).plan_type).toBe('enterprise');
    const [entry] = await auditOf(h, customer);
    expect(entry).toMatchObject({
      actor: 'dave',
      action: 'webhook_event.replay',
      before: { planId: 'free' },
      after: { planId: 'enterprise', event_id: id },
    });
  });

  it('needs no body, and reads none: sent without one, or with anything, it is the same replay', async () => {
    const h = await createHarness({ store: kind });
    const { id, orbPlan } = await unmappedEvent(h);
    await mapOrbPlan(h, 'growth', orbPlan);
    const path = `/admin/webhook-events/${encodeURIComponent(id)}/replay`;
    const bare = await h.request(path, {
      method: 'POST',
      headers: { authorization: `Bearer ${await h.adminToken('dave')}` },
    });
    expect(bare.status).toBe(200);
    expect(await bare.json()).toMatchObject({ event_id: id, outcome: 'applied' });
    const junk = await h.request(path, {
      method: 'POST',
      headers: { authorization: `Bearer ${await h.adminToken('dave')}`, 'content-type': 'text/plain' },
      body: 'not json',
    });
    expect(junk.status).toBe(200);
    expect(await junk.json()).toMatchObject({ event_id: id, outcome: 'applied' });
  });

  it('is idempotent: a second replay answers the same record and changes nothing', async () => {
    const h = await createHarness({ store: kind });
    const { customer, tenant, id, orbPlan } = await unmappedEvent(h);
    await mapOrbPlan(h, 'enterprise', orbPlan);
    const first = await (await replay(h, id)).json();
    await h.store.tenants.putTenant(tenant, { plan_id: 'growth' }, 'test'); // changed since
    const audits = (await auditOf(h, customer)).length;
    const again = await replay(h, id);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(first);
    expect((await h.limits(tenant)).plan_type).toBe('growth');
    expect(await auditOf(h, customer)).toHaveLength(audits);
  });

  it('applies an event once when it is replayed several times at once', async () => {
    const h = await createHarness({ store: kind });
    const { customer, id, orbPlan } = await unmappedEvent(h);
    await mapOrbPlan(h, 'growth', orbPlan);
    const answers = await Promise.all(Array.from({ length: 5 }, () => replay(h, id)));
    expect(answers.map((res) => res.status)).toEqual([200, 200, 200, 200, 200]);
    const bodies = await Promise.all(answers.map((res) => res.json()));
    expect(new Set(bodies.map((body) => JSON.stringify(body))).size).toBe(1);
    const replays = (await auditOf(h, customer)).filter((entry) => entry.action === 'webhook_event.replay');
    expect(replays).toHaveLength(1);
  });

  it('answers an event applied on delivery with its record, and changes nothing', async () => {
    const customer = unique('cus');
    const tenant = await shared.tenant('free', { customer_id: customer });
    const id = unique('evt');
    expect(await deliver(shared, { id, type: 'subscription.started', customer, plan: 'growth' })).toBe(
      'applied',
    );
    await shared.store.tenants.putTenant(tenant, { plan_id: 'enterprise' }, 'test');
    const audits = (await auditOf(shared, customer)).length;
    const res = await replay(shared, id);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual((await listed(shared, customer))[0]);
    expect((await shared.limits(tenant)).plan_type).toBe('enterprise');
    expect(await auditOf(shared, customer)).toHaveLength(audits);
  });

  it('leaves an event whose Orb plan is still unmapped as unmapped_plan, writing nothing', async () => {
    const { customer, tenant, id, orbPlan } = await unmappedEvent(shared);
    const res = await replay(shared, id);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      event_id: id,
      outcome: 'unmapped_plan',
      detail: { external_plan_id: orbPlan },
    });
    expect((await shared.limits(tenant)).plan_type).toBe('free');
    expect(await auditOf(shared, customer)).toHaveLength(0);
    expect(await auditOf(shared, id)).toHaveLength(0);
  });

  it('does not apply an event older than the last one applied to its customer: it becomes stale', async () => {
    const h = await createHarness({ store: kind });
    const now = Date.now();
    const { customer, tenant, id, orbPlan } = await unmappedEvent(h, new Date(now - 60_000));
    const newer = unique('evt');
    expect(
      await deliver(h, {
        id: newer,
        type: 'subscription.plan_changed',
        customer,
        plan: 'growth',
        createdAt: new Date(now - 1_000),
      }),
    ).toBe('applied');
    await mapOrbPlan(h, 'enterprise', orbPlan);
    const res = await replay(h, id, 'erin');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      event_id: id,
      outcome: 'stale',
      detail: { last_applied_at: new Date(now - 1_000).toISOString() },
    });
    expect((await h.limits(tenant)).plan_type).toBe('growth');
    expect(await auditOf(h, id)).toMatchObject([
      {
        actor: 'erin',
        action: 'webhook_event.replay',
        subjectType: 'webhook_event',
        before: { outcome: 'unmapped_plan' },
        after: { outcome: 'stale' },
      },
    ]);
    // Stale is final: a second replay changes nothing.
    expect(await (await replay(h, id)).json()).toMatchObject({ outcome: 'stale' });
    expect(await auditOf(h, id)).toHaveLength(1);
  });

  it('rejects an event recorded before its ids were checked, creating no customer', async () => {
    // Recorded as unmapped_plan by a version that let control characters through.
    const id = unique('evt');
    const prefix = unique('cus');
    await shared.db.insert(webhookEvent).values({
      id,
      type: 'subscription.created',
      createdAt: new Date(),
      customerId: `${prefix}\u0001`,
      outcome: 'unmapped_plan',
      detail: { external_plan_id: 'growth' },
      rawBody: '{}',
    });
    const res = await replay(shared, id, 'frank');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      event_id: id,
      outcome: 'rejected',
      detail: { field: 'subscription.customer.external_customer_id', reason: 'contains a control character' },
    });
    expect(
      await shared.db
        .select()
        .from(customerTable)
        .where(like(customerTable.id, `${prefix}%`)),
    ).toEqual([]);
    expect(await auditOf(shared, id)).toMatchObject([{ actor: 'frank', after: { outcome: 'rejected' } }]);
  });

  it('answers 404 Webhook event not found for an unknown id, on REST and tRPC', async () => {
    const res = await replay(shared, unique('evt-nobody'));
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('{"detail":"Webhook event not found"}');
    const viaTrpc = await shared.asAdmin(trpcPath('admin.replayWebhookEvent'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ eventId: unique('evt-nobody') }),
    });
    expect(viaTrpc.status).toBe(404);
    expect(await viaTrpc.json()).toMatchObject({ error: { data: { detail: 'Webhook event not found' } } });
  });

  it('finds an event whose id needs escaping in a path', async () => {
    const customer = unique('cus');
    const id = `${unique('evt')} /?#%`;
    await deliver(shared, { id, type: 'invoice.issued', customer });
    const res = await replay(shared, id);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ event_id: id, outcome: 'ignored' });
  });

  it.each([
    ['an id with a control character', 'evt%01x', 'string_pattern_mismatch'],
    ['an id over 2048 characters', 'e'.repeat(2049), 'string_too_long'],
  ])('refuses %s with 422', async (_, eventId, type) => {
    const res = await shared.request(`/admin/webhook-events/${eventId}/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await shared.adminToken()}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ detail: [{ type, loc: ['path', 'eventId'] }] });
  });

  it('is for admins only: 401 with a worker token, 404 when the admin API is off', async () => {
    const { id } = await unmappedEvent(shared);
    const asWorker = await shared.asWorker(`/admin/webhook-events/${id}/replay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(asWorker.status).toBe(401);
    const off = shared.withApp({ config: { adminSecret: undefined } });
    expect((await replay(off, id)).status).toBe(404);
    const [row] = await shared.db
      .select()
      .from(webhookEvent)
      .where(and(eq(webhookEvent.id, id), eq(webhookEvent.outcome, 'unmapped_plan')));
    expect(row).toBeDefined();
  });
});
