import { desc, eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { auditLog, plan } from '../../../src/db/schema.js';
import { eventually } from '../../support/eventually.js';
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

/** The catalog is every tenant's: each test maps plans on a database of its own (`createHarness`). */
describe.each(STORE_KINDS)('mapping Orb plan ids to catalog plans on %s', (kind: StoreKind) => {
  const putPlan = (h: Harness, planId: string, body: Record<string, unknown>) =>
    h.asAdmin(`/admin/plans/${planId}`, { method: 'PUT', body: JSON.stringify(body) });
  const asSubject = async (h: Harness, subject: string, planId: string, body: Record<string, unknown>) =>
    h.request(`/admin/plans/${planId}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${await h.adminToken(subject)}` },
      body: JSON.stringify(body),
    });
  const growth = { deployments: 5, self_hosted_workers: null };
  const free = { deployments: 1, self_hosted_workers: 5 };
  const orbIdOf = async (h: Harness, planId: string) =>
    (await h.db.select().from(plan).where(eq(plan.id, planId)))[0]?.orbExternalPlanId;
  const deliverPlanChange = async (h: Harness, customer: string, orbPlan: string) => {
    const res = await h.request(
      '/webhooks/orb',
      orbDelivery(
        subscriptionEvent({ id: unique('evt'), type: 'subscription.plan_changed', customer, plan: orbPlan }),
      ),
    );
    expect(res.status).toBe(200);
    return ((await res.json()) as { outcome: string }).outcome;
  };

  it('PUT /admin/plans/{id} maps an Orb plan id: answered, listed, audited, and Orb events follow it', async () => {
    const h = await createHarness({ store: kind });
    const res = await asSubject(h, 'carol', 'growth', { ...growth, orb_external_plan_id: 'orb-growth' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      plan_id: 'growth',
      ...growth,
      soft_limits: {},
      orb_external_plan_id: 'orb-growth',
    });
    const catalog = (await (await h.asAdmin('/admin/plans')).json()) as { plan_id: string }[];
    expect(catalog.find((p) => p.plan_id === 'growth')).toMatchObject({ orb_external_plan_id: 'orb-growth' });
    const [entry] = await h.db
      .select()
      .from(auditLog)
      .where(eq(auditLog.subjectId, 'growth'))
      .orderBy(desc(auditLog.id))
      .limit(1);
    expect(entry).toMatchObject({
      actor: 'carol',
      action: 'plan.update',
      before: { orb_external_plan_id: 'growth' },
      after: { orb_external_plan_id: 'orb-growth' },
    });

    const customer = unique('cus');
    const tenant = await h.tenant('free', { customer_id: customer });
    expect(await deliverPlanChange(h, customer, 'growth')).toBe('unmapped_plan');
    expect(await deliverPlanChange(h, customer, 'orb-growth')).toBe('applied');
    expect((await h.limits(tenant)).plan_type).toBe('growth');
  });

  it('keeps the mapping when the field is left out', async () => {
    const h = await createHarness({ store: kind });
    expect((await putPlan(h, 'growth', { ...growth, orb_external_plan_id: 'orb-growth' })).status).toBe(200);
    const res = await putPlan(h, 'growth', { deployments: 7, self_hosted_workers: null });
    expect(await res.json()).toMatchObject({ deployments: 7, orb_external_plan_id: 'orb-growth' });
    expect(await orbIdOf(h, 'growth')).toBe('orb-growth');
  });

  it('unmaps with null: Orb events for the old id are unmapped_plan', async () => {
    const h = await createHarness({ store: kind });
    const res = await putPlan(h, 'growth', { ...growth, orb_external_plan_id: null });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ orb_external_plan_id: null });
    expect(await orbIdOf(h, 'growth')).toBeNull();
    const customer = unique('cus');
    await h.tenant('free', { customer_id: customer });
    expect(await deliverPlanChange(h, customer, 'growth')).toBe('unmapped_plan');
    // Two plans may both be unmapped.
    expect((await putPlan(h, 'free', { ...free, orb_external_plan_id: null })).status).toBe(200);
  });

  it('maps a plan to the id it already has, and an id another plan gave up', async () => {
    const h = await createHarness({ store: kind });
    expect((await putPlan(h, 'growth', { ...growth, orb_external_plan_id: 'growth' })).status).toBe(200);
    expect((await putPlan(h, 'growth', { ...growth, orb_external_plan_id: 'orb-growth' })).status).toBe(200);
    const res = await putPlan(h, 'free', { ...free, orb_external_plan_id: 'growth' });
    expect(res.status).toBe(200);
    expect(await orbIdOf(h, 'free')).toBe('growth');
  });

  it('refuses an Orb plan id another plan has with 409, writing nothing', async () => {
    const h = await createHarness({ store: kind });
    const auditBefore = (await h.db.select().from(auditLog)).length;
    const res = await putPlan(h, 'free', {
      deployments: 9,
      self_hosted_workers: 9,
      orb_external_plan_id: 'growth',
    });
    expect(res.status).toBe(409);
    expect(await res.text()).toBe('{"detail":"Orb plan id already mapped to growth"}');
    expect(await orbIdOf(h, 'free')).toBe('free');
    expect((await h.store.tenants.listPlans()).find((p) => p.plan_id === 'free')).toMatchObject(free);
    expect((await h.db.select().from(auditLog)).length).toBe(auditBefore);
  });

  it('answers the 409 on /trpc too, and takes the field from tRPC callers (the admin CLI)', async () => {
    const h = await createHarness({ store: kind });
    const call = (input: Record<string, unknown>) =>
      h.asAdmin(trpcPath('admin.setPlan'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(input),
      });
    const mapped = await call({
      planId: 'enterprise',
      deployments: null,
      self_hosted_workers: null,
      orb_external_plan_id: 'orb-ent',
    });
    expect(mapped.status).toBe(200);
    expect(await mapped.json()).toMatchObject({ result: { data: { orb_external_plan_id: 'orb-ent' } } });
    const refused = await call({ planId: 'growth', ...growth, orb_external_plan_id: 'orb-ent' });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({
      error: { data: { detail: 'Orb plan id already mapped to enterprise' } },
    });
    expect(await h.store.tenants.listPlans()).toContainEqual(
      expect.objectContaining({ plan_id: 'growth', orb_external_plan_id: 'growth' }),
    );
  });

  it.runIf(kind === 'postgres')(
    'answers 409, not a UNIQUE violation, when another admin maps the same id at the same moment',
    async () => {
      const h = await createHarness({ store: kind });
      let put: Promise<Response> | undefined;
      // Another admin's mapping of `orb-contested` to free, not committed yet when ours arrives.
      await h.db.transaction(async (other) => {
        await other.update(plan).set({ orbExternalPlanId: 'orb-contested' }).where(eq(plan.id, 'free'));
        put = putPlan(h, 'growth', { ...growth, orb_external_plan_id: 'orb-contested' });
        await eventually(async () => {
          // postgres.js answers a raw query with the rows themselves (this test runs on PostgreSQL only).
          const waiting = (await h.db.execute(
            sql`select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
          )) as unknown as unknown[];
          return waiting.length > 0;
        });
      });
      const res = await (put as Promise<Response>);
      expect(res.status).toBe(409);
      expect(await res.json()).toEqual({ detail: 'Orb plan id already mapped to free' });
      expect(await orbIdOf(h, 'growth')).toBe('growth');
    },
  );

  describe('bad Orb plan ids', () => {
    // Refused before anything is written: these tests share one database.
    const shared = useHarness({ store: kind });
    it.each([
      ['an empty id', '', 'string_too_short'],
      ['an id over 255 characters', 'x'.repeat(256), 'string_too_long'],
      ['an id with a control character', 'orb\u0001growth', 'string_pattern_mismatch'],
      ['an id with a NUL', 'orb\u0000growth', 'string_pattern_mismatch'],
      ['an id with a C1 control character', 'orb\u0085growth', 'string_pattern_mismatch'],
      ['a number', 42, 'string_type'],
    ])('refuses %s with 422, writing nothing', async (_, value, type) => {
      const res = await putPlan(shared, 'growth', { ...growth, orb_external_plan_id: value });
      expect(res.status).toBe(422);
      const { detail } = (await res.json()) as { detail: unknown[] };
      expect(detail).toMatchObject([{ type, loc: ['body', 'orb_external_plan_id'] }]);
      expect(await orbIdOf(shared, 'growth')).toBe('growth');
    });
  });
});
