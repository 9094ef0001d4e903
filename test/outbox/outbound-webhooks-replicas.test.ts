/**
 * Outbound webhooks on two replicas of one PostgreSQL database: the dispatchers share the outbox
 * (each delivery claimed by one of them), one replica's commits wake the other's dispatcher, a
 * killed transaction leaves no event behind, and a dispatcher that dies mid-attempt leaves its
 * delivery to another once the lease runs out. PostgreSQL only (PGlite has a single client):
 * skipped unless TEST_DATABASE_URL is set. Each test has a database of its own, so that no other
 * test's dispatcher takes part.
 */
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import postgres from 'postgres';
import { describe, expect, it, onTestFinished } from 'vitest';
import { auditLog, billingEvent, webhookDelivery } from '../../src/db/schema.js';
import { eventually } from '../support/eventually.js';
import { createHarness, type Harness, STORE_KINDS, unique } from '../support/harness.js';
import { parsePrometheus, sampleSum } from '../support/prometheus.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';

const post = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});
const put = (body: unknown): RequestInit => ({ ...post(body), method: 'PUT' });

const DISPATCHER = { pollMs: 200, attemptTimeoutMs: 5_000, retryDelaysMs: [100, 100, 100] };

async function createEndpoint(app: Harness, url: string) {
  const res = await app.asAdmin('/admin/webhook-endpoints', post({ url }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { endpoint_id: string }).endpoint_id;
}

const deliveredBy = async (app: Harness) =>
  sampleSum(
    parsePrometheus(await (await app.request('/metrics')).text()),
    'billing_webhook_deliveries_total',
    { outcome: 'delivered' },
  );

describe.runIf(STORE_KINDS.includes('postgres'))(
  'outbound webhooks on two replicas of one PostgreSQL database',
  { timeout: 60_000 },
  () => {
    it('sends every event exactly once, each tenant’s in sequence order, the work shared by both dispatchers', async () => {
      const h = await createHarness({ store: 'postgres' });
      const receiver = await startWebhookReceiver();
      const config = { webhookAllowPrivate: true };
      const a = h.withApp({ config, dependencies: { dispatcher: DISPATCHER } });
      const b = h.withApp({
        config,
        dependencies: { store: await h.database.openReplica(), dispatcher: DISPATCHER },
      });
      const endpointId = await createEndpoint(a, receiver.url);

      const tenants = Array.from({ length: 10 }, () => unique('org'));
      const replicaFor = (i: number) => (i % 2 === 0 ? a : b);
      await Promise.all(
        tenants.map(async (tenant, i) => {
          const res = await replicaFor(i).asAdmin(`/admin/tenants/${tenant}`, put({ plan_id: 'growth' }));
          expect(res.status).toBe(200);
        }),
      );
      // 30 changes: three rounds over the 10 tenants, each round's writes at once, through both replicas.
      for (let round = 0; round < 3; round++) {
        await Promise.all(
          tenants.map(async (tenant, i) => {
            const res = await replicaFor(i + round).asAdmin(
              `/admin/tenants/${tenant}`,
              put({ overrides: { deployments: 20 + round } }),
            );
            expect(res.status).toBe(200);
          }),
        );
      }

      const events = await h.db
        .select()
        .from(billingEvent)
        .where(inArray(billingEvent.tenantId, tenants))
        .orderBy(asc(billingEvent.sequence));
      expect(events).toHaveLength(40); // 10 creations, 30 changes
      await eventually(() => receiver.received.length >= events.length, 30_000);

      const ids = receiver.received.map((request) => String(request.headers['webhook-id']));
      expect(ids).toHaveLength(events.length);
      expect(new Set(ids)).toEqual(new Set(events.map((event) => event.id)));
      for (const tenant of tenants) {
        const arrived = receiver.payloads(tenant).map((payload) => payload.data['sequence']);
        const written = events.filter((event) => event.tenantId === tenant).map((event) => event.sequence);
        expect(arrived).toEqual(written);
        expect(written).toHaveLength(4);
      }
      // Each delivered at its first attempt: no claim was made twice. (The last attempts' outcomes
      // are recorded just after the receiver answered them.)
      const deliveries = () =>
        h.db
          .select({ status: webhookDelivery.status, attempts: webhookDelivery.attempts })
          .from(webhookDelivery)
          .where(eq(webhookDelivery.endpointId, endpointId));
      await eventually(async () => (await deliveries()).every((d) => d.status === 'delivered'));
      expect(await deliveries()).toEqual(Array(40).fill({ status: 'delivered', attempts: 1 }));

      const [byA, byB] = [await deliveredBy(a), await deliveredBy(b)];
      expect(byA + byB).toBe(40);
      // Both replicas are woken by every commit and race for the claims (SKIP LOCKED).
      expect(byA).toBeGreaterThan(0);
      expect(byB).toBeGreaterThan(0);
    });

    it("delivers a change committed through a replica without a dispatcher: the other's is woken by the commit", async () => {
      const h = await createHarness({ store: 'postgres' });
      const receiver = await startWebhookReceiver();
      const config = { webhookAllowPrivate: true };
      // A's dispatcher would look on its own only after a minute: the commit's NOTIFY is what wakes it.
      const a = h.withApp({ config, dependencies: { dispatcher: { ...DISPATCHER, pollMs: 60_000 } } });
      const b = h.withApp({
        config,
        dependencies: { store: await h.database.openReplica(), dispatcher: false },
      });
      const endpointId = await createEndpoint(b, receiver.url);
      const tenant = unique('org');
      const res = await b.asAdmin(`/admin/tenants/${tenant}`, put({ plan_id: 'free' }));
      expect(res.status).toBe(200);

      await eventually(() => receiver.payloads(tenant).length === 1, 20_000);
      const [event] = await h.db.select().from(billingEvent).where(eq(billingEvent.tenantId, tenant));
      expect(receiver.received[0]?.headers['webhook-id']).toBe(event?.id);
      await eventually(async () => (await deliveredBy(a)) === 1);
      expect(await deliveredBy(b)).toBe(0);
      const deliveries = await b.asAdmin(`/admin/webhook-endpoints/${endpointId}/deliveries`);
      expect(await deliveries.json()).toMatchObject({ deliveries: [{ status: 'delivered', attempts: 1 }] });
    });

    it('writes no event when the transaction is killed (503), and exactly one when the change is made again', async () => {
      const h = await createHarness({ store: 'postgres' });
      const direct = postgres(h.database.url ?? '', { max: 2, onnotice: () => {} });
      onTestFinished(() => direct.end());
      const endpointId = await createEndpoint(
        h.withApp({ config: { webhookAllowPrivate: true } }),
        'http://127.0.0.1:9/',
      );
      const tenant = await h.tenant('growth');
      const eventsOf = () => h.db.select().from(billingEvent).where(eq(billingEvent.tenantId, tenant));
      const deliveriesOf = () =>
        h.db
          .select()
          .from(webhookDelivery)
          .where(and(eq(webhookDelivery.endpointId, endpointId), eq(webhookDelivery.tenantId, tenant)));
      const adminAudits = () =>
        h.db
          .select()
          .from(auditLog)
          .where(and(eq(auditLog.subjectId, tenant), eq(auditLog.actor, 'alice')));
      expect(await eventsOf()).toHaveLength(1);
      expect(await deliveriesOf()).toHaveLength(1);

      // Hold the outbox: the change's transaction stops at its event, after writing the tenant and its audit entry.
      let releaseLock: () => void = () => {};
      let lockHeld: () => void = () => {};
      const held = new Promise<void>((resolve) => {
        lockHeld = resolve;
      });
      const locking = direct.begin(async (tx) => {
        await tx`lock table billing_event in exclusive mode`;
        lockHeld();
        await new Promise<void>((resolve) => {
          releaseLock = resolve;
        });
      });
      onTestFinished(async () => {
        releaseLock();
        await locking.catch(() => {});
      });
      await held;
      const change = h.asAdmin(`/admin/tenants/${tenant}`, put({ overrides: { deployments: 9 } }));
      // The change's backend waits for the lock: end it there, as a crash or a failover would.
      // Its transaction has written already (it has a transaction id): the event is written in the
      // change's own transaction, not after it.
      let wroteBefore: unknown;
      await eventually(async () => {
        const waiting = await direct`
          select pid, backend_xid is not null as wrote from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'
            and query ilike '%billing_event%' and pid <> pg_backend_pid()`;
        const pid = waiting[0]?.['pid'] as number | undefined;
        if (pid === undefined) return false;
        wroteBefore = waiting[0]?.['wrote'];
        await direct`select pg_terminate_backend(${pid})`;
        return true;
      });
      expect(wroteBefore).toBe(true);
      const answered = await change;
      expect(answered.status).toBe(503);
      expect(await answered.json()).toEqual({ detail: 'Limits store unavailable' });
      releaseLock();
      await locking;

      // Nothing of it was kept: no change, no event, no delivery, no audit entry.
      expect((await h.store.tenants.findTenant(tenant))?.overrides).toEqual({});
      expect(await eventsOf()).toHaveLength(1);
      expect(await deliveriesOf()).toHaveLength(1);
      expect(await adminAudits()).toEqual([]);

      const again = await h.asAdmin(`/admin/tenants/${tenant}`, put({ overrides: { deployments: 9 } }));
      expect(again.status).toBe(200);
      expect((await h.store.tenants.findTenant(tenant))?.overrides).toEqual({ deployments: 9 });
      const events = await eventsOf();
      expect(events).toHaveLength(2);
      expect(events.map((event) => (event.data['after'] as { deployments: number }).deployments)).toEqual([
        5, 9,
      ]);
      expect(await deliveriesOf()).toHaveLength(2);
      expect(await adminAudits()).toHaveLength(1);
    });

    it('hands a delivery whose dispatcher died mid-attempt to another once its lease runs out', async () => {
      const h = await createHarness({ store: 'postgres' });
      const receiver = await startWebhookReceiver();
      const config = { webhookAllowPrivate: true };
      const endpointId = await createEndpoint(h.withApp({ config }), receiver.url);
      const tenant = await h.tenant('free');

      // A dispatcher claims the delivery for 200 ms, and is never heard of again.
      const claimed = await h.store.outbox.claimDue(1, 200);
      const claimedAt = Date.now();
      expect(claimed.map((c) => [c.endpointId, c.attempt, c.event.tenantId])).toEqual([
        [endpointId, 1, tenant],
      ]);
      // Claimed, it is not claimed again before the lease runs out.
      expect(await h.store.outbox.claimDue(1, 200)).toEqual([]);

      // Another replica's dispatcher, running from now on.
      const b = h.withApp({
        config,
        dependencies: { store: await h.database.openReplica(), dispatcher: { ...DISPATCHER, pollMs: 50 } },
      });
      await eventually(() => receiver.received.length === 1);
      expect(receiver.received[0]?.at ?? 0).toBeGreaterThanOrEqual(claimedAt + 100);
      expect(receiver.received[0]?.headers['webhook-id']).toBe(claimed[0]?.event.id);
      await eventually(async () => (await deliveredBy(b)) === 1);
      const deliveries = await b.asAdmin(`/admin/webhook-endpoints/${endpointId}/deliveries`);
      expect(await deliveries.json()).toMatchObject({
        deliveries: [{ status: 'delivered', attempts: 2, last_status_code: 200, last_error: null }],
      });
      expect(receiver.received).toHaveLength(1);
      // The dead dispatcher's claim is spent: nothing is due any more.
      expect(await h.store.outbox.claimDue(1, 200)).toEqual([]);
      expect(
        await h.db
          .select({ n: sql<number>`count(*)::int` })
          .from(webhookDelivery)
          .where(eq(webhookDelivery.status, 'pending')),
      ).toEqual([{ n: 0 }]);
    });
  },
);
