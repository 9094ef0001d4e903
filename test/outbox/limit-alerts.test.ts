/**
 * Threshold alerts (`limit.warning`, `limit.reached`, `limit.resolved`): written into the outbox by
 * the database with the change that crosses a threshold (drizzle/0011_limit_alerts.sql), each
 * transition once, with hysteresis on the way down — checked against a model of the state machine
 * kept here, by hand and with random sequences of grants, releases, refusals, reconciles and limit
 * changes.
 */
import { randomUUID } from 'node:crypto';
import { and, asc, eq, like, sql } from 'drizzle-orm';
import fc from 'fast-check';
import postgres from 'postgres';
import { Webhook } from 'standardwebhooks';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { CreatedWebhookEndpoint, LimitAlertState } from '../../src/contract/outbound-webhooks.js';
import type { Resource } from '../../src/contract/usage.js';
import { writeAlertThresholds } from '../../src/db/limit-alerts.js';
import { billingAlertState, billingEvent, reservation, usageCounter } from '../../src/db/schema.js';
import { eventually } from '../support/eventually.js';
import { createHarness, type Harness, STORE_KINDS, useHarness } from '../support/harness.js';
import { rowsOf } from '../support/leases.js';
import { orbDelivery, subscriptionEvent } from '../support/orb.js';
import { holdCounterRows } from '../support/row-lock.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';

// ---- the model ------------------------------------------------------------------------------

/** Which way usage went against the limit. */
type Move = 'rose' | 'fell' | 'refused';
interface Thresholds {
  warning: number;
  hysteresis: number;
}
const DEFAULTS: Thresholds = { warning: 80, hysteresis: 10 };

/**
 * The state machine as the README tells it: rising escalates only (ok → warning at the warning
 * level, → reached at the limit), falling de-escalates only (reached → warning below the limit,
 * → ok below the warning level minus the hysteresis), a refusal is reached, unlimited is ok.
 */
function nextState(
  state: LimitAlertState,
  move: Move,
  used: number,
  limit: number | null,
  { warning, hysteresis }: Thresholds = DEFAULTS,
): LimitAlertState {
  if (limit === null) return 'ok';
  if (move === 'refused') return 'reached';
  const reached = used >= limit;
  if (move === 'rose') {
    if (reached) return 'reached';
    return state === 'ok' && used * 100 >= limit * warning ? 'warning' : state;
  }
  if (used * 100 < limit * (warning - hysteresis)) return 'ok';
  return state === 'reached' && !reached ? 'warning' : state;
}

const EVENT_OF: Record<LimitAlertState, string> = {
  ok: 'limit.resolved',
  warning: 'limit.warning',
  reached: 'limit.reached',
};

/** An alert as the tests compare them: type, used, limit. */
type Alert = [type: string, used: number, limit: number | null];

const json = (body: unknown, method = 'POST'): RequestInit => ({
  method,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** A tenant's usage of one resource, driven through the API as the Engine drives it. */
function usageOf(app: Harness, tenant: string, resource: Resource = 'deployments') {
  const headers = { 'tenant-id': tenant, 'content-type': 'application/json' };
  return {
    /** The reservation id, or null when refused (409). */
    async reserve(quantity: number, extra: Record<string, unknown> = {}): Promise<string | null> {
      const res = await app.asWorker('/billing/reservations', {
        method: 'POST',
        headers,
        body: JSON.stringify({ resource, quantity, idempotency_key: randomUUID(), ...extra }),
      });
      if (res.status === 409) return null;
      expect(res.status).toBe(201);
      return ((await res.json()) as { reservation_id: string }).reservation_id;
    },
    async release(id: string) {
      expect((await app.asWorker(`/billing/reservations/${id}`, { method: 'DELETE', headers })).status).toBe(
        204,
      );
    },
    /** The Engine's absolute count (reconcile). */
    async set(count: number) {
      const res = await app.asWorker('/billing/usage', {
        method: 'PUT',
        headers,
        body: JSON.stringify({ [resource]: count }),
      });
      expect(res.status).toBe(200);
    },
    /** An operator's override of the limit (null: unlimited). */
    async limit(limit: number | null) {
      const res = await app.asAdmin(
        `/admin/tenants/${tenant}`,
        json({ overrides: { [resource]: limit } }, 'PUT'),
      );
      expect(res.status).toBe(200);
    },
  };
}

describe.each(STORE_KINDS)('limit alerts on %s', (kind) => {
  const h = useHarness({ store: kind });

  const alertEvents = (tenant: string) =>
    h.db
      .select()
      .from(billingEvent)
      .where(and(eq(billingEvent.tenantId, tenant), like(billingEvent.type, 'limit.%')))
      .orderBy(asc(billingEvent.sequence));
  /** The tenant's alerts so far, for one resource: [type, used, limit]. */
  async function alertsOf(tenant: string, resource: Resource = 'deployments'): Promise<Alert[]> {
    return (await alertEvents(tenant))
      .filter((event) => event.data['resource'] === resource)
      .map((event) => [event.type, event.data['used'] as number, event.data['limit'] as number | null]);
  }
  async function stateOf(tenant: string, resource: Resource = 'deployments') {
    const [row] = await h.db
      .select({ state: billingAlertState.state })
      .from(billingAlertState)
      .where(and(eq(billingAlertState.organizationId, tenant), eq(billingAlertState.resource, resource)));
    return row?.state;
  }
  /** Thresholds for this test only (the database's one settings row, put back after). */
  async function thresholds(warningPercent: number, hysteresisPercent: number) {
    await writeAlertThresholds(h.db, { warningPercent, hysteresisPercent });
    onTestFinished(() => writeAlertThresholds(h.db, { warningPercent: 80, hysteresisPercent: 10 }));
  }

  it.runIf(kind === 'postgres')(
    'sends nothing for a grant abandoned in its own statement (its deadline passed while it waited): usage never moved',
    async () => {
      const tenant = await h.tenant('free', { overrides: { deployments: 2 } });
      const usage = usageOf(h, tenant);
      await usage.reserve(1); // 1 of 2: ok
      // The next grant waits for the counter row past its deadline: billing_reserve takes the unit
      // (2 of 2) and gives it back (1 of 2) in one statement — a move up and down that never was.
      const lock = await holdCounterRows(h.db, tenant);
      const late = h.store.usage.reserve(tenant, {
        resource: 'deployments',
        quantity: 1,
        idempotencyKey: randomUUID(),
        reference: undefined,
        fingerprint: 'late',
        notAfter: Date.now() + 200,
      });
      await new Promise((resolve) => setTimeout(resolve, 400));
      await lock.release();
      expect(await late).toEqual({ kind: 'abandoned' });
      expect(await alertsOf(tenant)).toEqual([]);
      expect(await stateOf(tenant)).toBe('ok');
    },
  );

  it('ok → warning → reached as grants fill a limit of 10, each once; the data says where it stands', async () => {
    const tenant = await h.tenant('free', { overrides: { deployments: 10 } });
    const usage = usageOf(h, tenant);
    for (let i = 0; i < 7; i++) await usage.reserve(1);
    expect(await alertsOf(tenant)).toEqual([]);
    expect(await stateOf(tenant)).toBe('ok');
    await usage.reserve(1); // 8 of 10: 80 %
    await usage.reserve(1); // 9: still warning, nothing more
    expect(await alertsOf(tenant)).toEqual([['limit.warning', 8, 10]]);
    await usage.reserve(1); // 10 of 10
    expect(await usage.reserve(1)).toBeNull(); // refused: reached already
    const events = await alertEvents(tenant);
    expect(events.map((event) => event.data)).toEqual([
      { tenant_id: tenant, resource: 'deployments', used: 8, limit: 10, state: 'warning' },
      { tenant_id: tenant, resource: 'deployments', used: 10, limit: 10, state: 'reached' },
    ]);
    expect(events.map((event) => event.type)).toEqual(['limit.warning', 'limit.reached']);
    expect(await stateOf(tenant)).toBe('reached');
    // The other resource was never near its limit.
    expect(await alertsOf(tenant, 'self_hosted_workers')).toEqual([]);
  });

  it('from reached: below the limit but at or above the resolve level is limit.warning, below it limit.resolved', async () => {
    const tenant = await h.tenant('free', { overrides: { deployments: 10 } });
    const usage = usageOf(h, tenant);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await usage.reserve(1)) ?? '');
    const release = async (n: number) => {
      for (const id of ids.splice(0, n)) await usage.release(id);
    };
    await release(1); // 9: below the limit
    expect((await alertsOf(tenant)).slice(2)).toEqual([['limit.warning', 9, 10]]);
    await release(2); // 7: the resolve level is 80 − 10 = 70 %, not below it
    expect(await alertsOf(tenant)).toHaveLength(3);
    await usage.reserve(1); // 8: back at the warning level, already warning
    await release(1); // 7
    expect(await alertsOf(tenant)).toHaveLength(3);
    await release(1); // 6: below 70 %
    expect((await alertsOf(tenant)).slice(3)).toEqual([['limit.resolved', 6, 10]]);
    expect(await stateOf(tenant)).toBe('ok');
    // Up again: between the resolve and the warning level nothing is sent (hysteresis).
    await usage.reserve(1); // 7
    expect(await alertsOf(tenant)).toHaveLength(4);
    await usage.reserve(1); // 8
    expect((await alertsOf(tenant)).slice(4)).toEqual([['limit.warning', 8, 10]]);
  });

  it('from reached straight below the resolve level: limit.resolved alone; from warning too', async () => {
    const tenant = await h.tenant('free', { overrides: { deployments: 10 } });
    const usage = usageOf(h, tenant);
    const all = await usage.reserve(10);
    expect(await alertsOf(tenant)).toEqual([['limit.reached', 10, 10]]);
    await usage.release(all ?? '');
    expect(await alertsOf(tenant)).toEqual([
      ['limit.reached', 10, 10],
      ['limit.resolved', 0, 10],
    ]);
    const most = await usage.reserve(9);
    await usage.release(most ?? '');
    expect((await alertsOf(tenant)).slice(2)).toEqual([
      ['limit.warning', 9, 10],
      ['limit.resolved', 0, 10],
    ]);
  });

  it('a refusal is limit.reached once however many; a grant after it does not move it back; a release does', async () => {
    const tenant = await h.tenant('free', { overrides: { deployments: 10 } });
    const usage = usageOf(h, tenant);
    await usage.reserve(3);
    for (let i = 0; i < 10; i++) expect(await usage.reserve(8)).toBeNull();
    await Promise.all(Array.from({ length: 10 }, () => usage.reserve(9)));
    expect(await alertsOf(tenant)).toEqual([['limit.reached', 3, 10]]);
    // A grant while reached (4, then 8: the warning level): rising never de-escalates.
    const one = await usage.reserve(1);
    await usage.reserve(4);
    expect(await alertsOf(tenant)).toHaveLength(1);
    expect(await stateOf(tenant)).toBe('reached');
    // Falling below the limit, at or above the resolve level: warning.
    await usage.release(one ?? '');
    expect(await alertsOf(tenant)).toEqual([
      ['limit.reached', 3, 10],
      ['limit.warning', 7, 10],
    ]);
  });

  it('a refusal below the resolve level is reached, and the next fall below it resolves', async () => {
    const tenant = await h.tenant('free', { overrides: { deployments: 10 } });
    const usage = usageOf(h, tenant);
    const two = await usage.reserve(2);
    expect(await usage.reserve(9)).toBeNull();
    await usage.reserve(1); // rising: stays reached
    await usage.release(two ?? '');
    expect(await alertsOf(tenant)).toEqual([
      ['limit.reached', 2, 10],
      ['limit.resolved', 1, 10],
    ]);
  });

  it('a limit change moves the state: lowered → warning or reached, raised → warning or resolved', async () => {
    const tenant = await h.tenant('free', { overrides: { deployments: 20 } });
    const usage = usageOf(h, tenant);
    await usage.reserve(12); // 60 % of 20
    expect(await alertsOf(tenant)).toEqual([]);
    await usage.limit(15); // 80 %
    await usage.limit(14); // still warning
    expect(await alertsOf(tenant)).toEqual([['limit.warning', 12, 15]]);
    await usage.limit(12); // at the limit
    expect((await alertsOf(tenant)).slice(1)).toEqual([['limit.reached', 12, 12]]);
    await usage.limit(16); // 75 %: below the limit, above the resolve level (70 %)
    expect((await alertsOf(tenant)).slice(2)).toEqual([['limit.warning', 12, 16]]);
    await usage.limit(17); // 70.6 %: nothing
    expect(await alertsOf(tenant)).toHaveLength(3);
    await usage.limit(18); // 66.7 %
    expect((await alertsOf(tenant)).slice(3)).toEqual([['limit.resolved', 12, 18]]);
    // Lowered below the usage at once: reached, without a warning first.
    await usage.limit(5);
    expect((await alertsOf(tenant)).slice(4)).toEqual([['limit.reached', 12, 5]]);
    // Every alert came after the limits.changed that caused it, in the same transaction's order.
    const events = await h.db
      .select({ type: billingEvent.type })
      .from(billingEvent)
      .where(eq(billingEvent.tenantId, tenant))
      .orderBy(asc(billingEvent.sequence));
    expect(events.map((event) => event.type).slice(-2)).toEqual(['limits.changed', 'limit.reached']);
  });

  it('an Orb plan change re-assesses each organization of the customer', async () => {
    const customer = `cus-${randomUUID().slice(0, 8)}`;
    const [full, half] = [`org-${randomUUID().slice(0, 8)}`, `org-${randomUUID().slice(0, 8)}`];
    await h.store.tenants.putTenant(full, { plan_id: 'free', customer_id: customer }, 'test');
    await h.store.tenants.putTenant(
      half,
      { customer_id: customer, overrides: { self_hosted_workers: 10 } },
      'test',
    );
    await usageOf(h, full).reserve(1); // 1 of 1
    await usageOf(h, half, 'self_hosted_workers').reserve(5); // 5 of 10
    const body = subscriptionEvent({
      id: `evt-${randomUUID()}`,
      type: 'subscription.plan_changed',
      customer,
      plan: 'growth',
    });
    expect(await (await h.request('/webhooks/orb', orbDelivery(body))).json()).toMatchObject({
      outcome: 'applied',
    });
    // growth: 5 deployments (1 of 5 now), unlimited workers (the override of 10 stays).
    expect(await alertsOf(full)).toEqual([
      ['limit.reached', 1, 1],
      ['limit.resolved', 1, 5],
    ]);
    expect(await alertsOf(half, 'self_hosted_workers')).toEqual([]);
    const downgrade = subscriptionEvent({
      id: `evt-${randomUUID()}`,
      type: 'subscription.plan_changed',
      customer,
      plan: 'free',
    });
    expect(await (await h.request('/webhooks/orb', orbDelivery(downgrade))).json()).toMatchObject({
      outcome: 'applied',
    });
    expect((await alertsOf(full)).slice(2)).toEqual([['limit.reached', 1, 1]]);
    expect(await alertsOf(half, 'self_hosted_workers')).toEqual([]);
  });

  it('unlimited: never an alert, and made unlimited while reached it resolves (limit null)', async () => {
    const tenant = await h.tenant('enterprise');
    const usage = usageOf(h, tenant);
    await usage.reserve(1_000);
    await usage.set(1_000_000);
    expect(await alertsOf(tenant)).toEqual([]);
    expect(await stateOf(tenant)).toBe('ok');
    // Made finite under its usage: reached; unlimited again: resolved.
    await usage.limit(10);
    await usage.limit(null);
    expect(await alertsOf(tenant)).toEqual([
      ['limit.reached', 1_000_000, 10],
      ['limit.resolved', 1_000_000, null],
    ]);
    const [resolved] = (await alertEvents(tenant)).slice(-1);
    expect(resolved?.data).toEqual({
      tenant_id: tenant,
      resource: 'deployments',
      used: 1_000_000,
      limit: null,
      state: 'ok',
    });
  });

  it('reconcile (the Engine’s absolute counts) moves it both ways', async () => {
    const tenant = await h.tenant('free', { overrides: { deployments: 10, self_hosted_workers: 10 } });
    const workers = usageOf(h, tenant, 'self_hosted_workers');
    await workers.set(12);
    await workers.set(9);
    await workers.set(9);
    await workers.set(0);
    expect(await alertsOf(tenant, 'self_hosted_workers')).toEqual([
      ['limit.reached', 12, 10],
      ['limit.warning', 9, 10],
      ['limit.resolved', 0, 10],
    ]);
    expect(await alertsOf(tenant, 'deployments')).toEqual([]);
  });

  it('leases the sweep expires count out, and resolve what they filled', async () => {
    const tenant = await h.tenant('free'); // 5 workers
    const workers = usageOf(h, tenant, 'self_hosted_workers');
    const leases = [
      await workers.reserve(4, { lease_seconds: 30 }),
      await workers.reserve(1, { lease_seconds: 30 }),
    ];
    expect(await alertsOf(tenant, 'self_hosted_workers')).toEqual([
      ['limit.warning', 4, 5],
      ['limit.reached', 5, 5],
    ]);
    await h.db.execute(
      sql`update reservation set expires_at = now() - interval '1 second' where organization_id = ${tenant}`,
    );
    const expired = await h.store.usage.expireLeases(500);
    expect(expired.map((lease) => lease.reservationId).sort()).toEqual([...leases].sort());
    // One sweep, one counter update: one transition, straight to ok.
    expect((await alertsOf(tenant, 'self_hosted_workers')).slice(2)).toEqual([['limit.resolved', 0, 5]]);
  });

  it('honours the thresholds the app wrote: warning at 50 %, resolved below 30 %', async () => {
    await thresholds(50, 20);
    const tenant = await h.tenant('free', { overrides: { deployments: 10 } });
    const usage = usageOf(h, tenant);
    const ids = [await usage.reserve(4), await usage.reserve(1)];
    expect(await alertsOf(tenant)).toEqual([['limit.warning', 5, 10]]);
    await usage.release(ids[1] ?? ''); // 4: 40 %
    const one = await usage.reserve(1);
    await usage.release(one ?? '');
    expect(await alertsOf(tenant)).toHaveLength(1);
    await h.store.usage.setUsage(tenant, { deployments: 3 }, 'test'); // 30 %: not below
    expect(await alertsOf(tenant)).toHaveLength(1);
    await h.store.usage.setUsage(tenant, { deployments: 2 }, 'test');
    expect(await alertsOf(tenant)).toEqual([
      ['limit.warning', 5, 10],
      ['limit.resolved', 2, 10],
    ]);
  });

  it('no hysteresis (0 %) and a warning at 100 %: reached and resolved only', async () => {
    await thresholds(100, 0);
    const tenant = await h.tenant('free', { overrides: { deployments: 4 } });
    const usage = usageOf(h, tenant);
    const ids = [await usage.reserve(3), await usage.reserve(1)];
    await usage.release(ids[1] ?? '');
    expect(await alertsOf(tenant)).toEqual([
      ['limit.reached', 4, 4],
      ['limit.resolved', 3, 4],
    ]);
  });

  it('an alert exists if and only if its change commits', async () => {
    const tenant = await h.tenant('free', { overrides: { deployments: 10 } });
    const usage = usageOf(h, tenant);
    await usage.reserve(7);
    // The alert cannot be written: the grant that crosses the warning level fails whole.
    await h.db.execute(
      sql.raw(`create function refuse_alert() returns trigger language plpgsql as $$
        begin if new.tenant_id = '${tenant}' and new.type like 'limit.%' then raise exception 'alert refused'; end if;
        return new; end $$`),
    );
    await h.db.execute(
      sql.raw(
        'create trigger refuse_alert before insert on billing_event for each row execute function refuse_alert()',
      ),
    );
    try {
      const res = await h.asWorker('/billing/reservations', {
        ...json({ resource: 'deployments', quantity: 1, idempotency_key: randomUUID() }),
        headers: { 'tenant-id': tenant, 'content-type': 'application/json' },
      });
      expect(res.status).toBe(500);
    } finally {
      await h.db.execute(sql.raw('drop trigger refuse_alert on billing_event'));
      await h.db.execute(sql.raw('drop function refuse_alert()'));
    }
    const [counter] = await h.db.select().from(usageCounter).where(eq(usageCounter.organizationId, tenant));
    expect(counter?.used).toBe(7);
    expect(await h.db.select().from(reservation).where(eq(reservation.organizationId, tenant))).toHaveLength(
      1,
    );
    expect(await stateOf(tenant)).toBe('ok');

    // And a change rolled back takes its alert with it: written in its transaction, gone with it.
    const rolledBack = new Error('rolled back');
    await expect(
      h.db.transaction(async (tx) => {
        await tx
          .update(usageCounter)
          .set({ used: 10 })
          .where(and(eq(usageCounter.organizationId, tenant), eq(usageCounter.resource, 'deployments')));
        const alertsInside = () =>
          tx
            .select({ type: billingEvent.type })
            .from(billingEvent)
            .where(and(eq(billingEvent.tenantId, tenant), like(billingEvent.type, 'limit.%')));
        // Assessed at commit (a deferred trigger), or here when asked to be.
        expect(await alertsInside()).toEqual([]);
        await tx.execute(sql`set constraints usage_counter_alert_update immediate`);
        const inside = await tx
          .select({ type: billingEvent.type })
          .from(billingEvent)
          .where(and(eq(billingEvent.tenantId, tenant), like(billingEvent.type, 'limit.%')));
        expect(inside).toEqual([{ type: 'limit.reached' }]);
        throw rolledBack;
      }),
    ).rejects.toBe(rolledBack);
    expect(await alertsOf(tenant)).toEqual([]);
    expect(await stateOf(tenant)).toBe('ok');

    await usage.reserve(1);
    expect(await alertsOf(tenant)).toEqual([['limit.warning', 8, 10]]);
  });

  it('sends them by webhook, signed, with their sequence in data, to an endpoint that takes them', async () => {
    const sender = h.withApp({
      config: { webhookAllowPrivate: true },
      dependencies: { dispatcher: { retryDelaysMs: [100], pollMs: 200, attemptTimeoutMs: 2_000 } },
    });
    const receiver = await startWebhookReceiver();
    const created = await sender.asAdmin(
      '/admin/webhook-endpoints',
      json({ url: receiver.url, events: ['limit.warning', 'limit.reached', 'limit.resolved'] }),
    );
    expect(created.status).toBe(201);
    const endpoint = (await created.json()) as CreatedWebhookEndpoint;
    onTestFinished(async () => {
      await sender.asAdmin(`/admin/webhook-endpoints/${endpoint.endpoint_id}`, { method: 'DELETE' });
    });
    const tenant = await h.tenant('free', { overrides: { self_hosted_workers: 10 } });
    const workers = usageOf(sender, tenant, 'self_hosted_workers');
    const eight = await workers.reserve(8);
    await workers.reserve(2);
    await workers.release(eight ?? '');

    await eventually(() => receiver.payloads(tenant).length === 3);
    const events = await alertEvents(tenant);
    const verified = receiver.received
      .filter((request) => request.body.includes(`"${tenant}"`))
      .map((request) =>
        new Webhook(endpoint.secret).verify(request.body, request.headers as Record<string, string>),
      );
    expect(verified).toEqual(
      events.map((event) => ({
        type: event.type,
        timestamp: event.createdAt.toISOString(),
        data: { ...event.data, sequence: event.sequence },
      })),
    );
    expect(verified.map((payload) => (payload as { data: unknown }).data)).toEqual([
      {
        tenant_id: tenant,
        resource: 'self_hosted_workers',
        used: 8,
        limit: 10,
        state: 'warning',
        sequence: events[0]?.sequence,
      },
      {
        tenant_id: tenant,
        resource: 'self_hosted_workers',
        used: 10,
        limit: 10,
        state: 'reached',
        sequence: events[1]?.sequence,
      },
      {
        tenant_id: tenant,
        resource: 'self_hosted_workers',
        used: 2,
        limit: 10,
        state: 'ok',
        sequence: events[2]?.sequence,
      },
    ]);
    // Key order is the contract's; the tenant's own limits.changed was not for this endpoint.
    expect(Object.keys((verified[0] as { data: object }).data)).toEqual([
      'tenant_id',
      'resource',
      'used',
      'limit',
      'state',
      'sequence',
    ]);
    expect(receiver.payloads(tenant).map((payload) => payload.type)).toEqual([
      'limit.warning',
      'limit.reached',
      'limit.resolved',
    ]);
  });

  it('the admin API filters deliveries by the new types, and an endpoint without a filter takes them', async () => {
    const res = await h.asAdmin('/admin/webhook-endpoints', json({ url: 'https://93.184.215.14/hook' }));
    expect(res.status).toBe(201);
    const endpoint = (await res.json()) as CreatedWebhookEndpoint;
    onTestFinished(async () => {
      await h.asAdmin(`/admin/webhook-endpoints/${endpoint.endpoint_id}`, { method: 'DELETE' });
    });
    expect(endpoint.events).toEqual(
      expect.arrayContaining(['limit.warning', 'limit.reached', 'limit.resolved']),
    );
    const refused = await h.asAdmin(
      '/admin/webhook-endpoints',
      json({ url: 'https://93.184.215.14/hook', events: ['limit.nope'] }),
    );
    expect(refused.status).toBe(422);
  });

  it('random grants, releases, refusals, reconciles and limit changes send exactly what the model says', async () => {
    type Op =
      | { kind: 'reserve'; quantity: number }
      | { kind: 'release'; pick: number }
      | { kind: 'set'; count: number }
      | { kind: 'limit'; limit: number | null };
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          kind: fc.constant('reserve' as const),
          quantity: fc.integer({ min: 1, max: 4 }),
        }),
      },
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant('set' as const), count: fc.integer({ min: 0, max: 14 }) }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant('limit' as const),
          limit: fc.option(fc.integer({ min: 0, max: 12 }), { freq: 6 }),
        }),
      },
    );
    const settings = fc
      .integer({ min: 1, max: 100 })
      .chain((warning) =>
        fc.record({ warning: fc.constant(warning), hysteresis: fc.integer({ min: 0, max: warning - 1 }) }),
      );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        settings,
        fc.array(op, { minLength: 1, maxLength: 25 }),
        async (initialLimit, thresholds, ops) => {
          await writeAlertThresholds(h.db, {
            warningPercent: thresholds.warning,
            hysteresisPercent: thresholds.hysteresis,
          });
          const tenant = await h.tenant('free', { overrides: { deployments: initialLimit } });
          const usage = usageOf(h, tenant);
          let [used, limit, state]: [number, number | null, LimitAlertState] = [0, initialLimit, 'ok'];
          const held: { id: string; quantity: number }[] = [];
          const expected: Alert[] = [];
          const move = (direction: Move) => {
            const next = nextState(state, direction, used, limit, thresholds);
            if (next !== state) expected.push([EVENT_OF[next], used, limit]);
            state = next;
          };
          for (const step of ops) {
            if (step.kind === 'reserve') {
              const id = await usage.reserve(step.quantity);
              const granted = limit === null || used + step.quantity <= limit;
              expect(id !== null).toBe(granted);
              if (id === null) {
                move('refused');
                continue;
              }
              held.push({ id, quantity: step.quantity });
              used += step.quantity;
              move('rose');
            } else if (step.kind === 'release') {
              const [taken] = held.splice(step.pick % Math.max(held.length, 1), 1);
              if (!taken) continue;
              await usage.release(taken.id);
              const before = used;
              used = Math.max(0, used - taken.quantity);
              if (used !== before) move('fell');
            } else if (step.kind === 'set') {
              await usage.set(step.count);
              const before = used;
              used = step.count;
              if (used !== before) move(used > before ? 'rose' : 'fell');
            } else {
              await usage.limit(step.limit);
              const before: number | null = limit;
              limit = step.limit;
              if (limit === before) continue;
              move(limit !== null && (before === null || limit < before) ? 'rose' : 'fell');
            }
          }
          expect(await alertsOf(tenant)).toEqual(expected);
          expect(await stateOf(tenant)).toBe(state);
        },
      ),
      { numRuns: 30 },
    );
    await writeAlertThresholds(h.db, { warningPercent: 80, hysteresisPercent: 10 });
  }, 120_000);

  it('the database’s next-state function is the model, over every input', async () => {
    const states = fc.constantFrom<LimitAlertState>('ok', 'warning', 'reached');
    const moves = fc.constantFrom<Move>('rose', 'fell', 'refused');
    const input = fc.record({
      state: states,
      move: moves,
      used: fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 2_147_483_647 })),
      limit: fc.option(
        fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 1_000_000_000 })),
        {
          freq: 8,
        },
      ),
      thresholds: fc
        .integer({ min: 1, max: 100 })
        .chain((warning) =>
          fc.record({ warning: fc.constant(warning), hysteresis: fc.integer({ min: 0, max: warning - 1 }) }),
        ),
    });
    const cases = fc.sample(input, 2_000);
    const rows = cases.map((c, i) => ({
      i,
      state: c.state,
      move: c.move,
      used: c.used,
      lim: c.limit,
      warning: c.thresholds.warning,
      hysteresis: c.thresholds.hysteresis,
    }));
    const answers = await rowsOf(
      h.db,
      sql`
      select billing_alert_next_state(c.state, c.move, c.used, c.lim, c.warning, c.hysteresis) as next
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
        as c(i integer, state text, move text, used integer, lim integer, warning integer, hysteresis integer)
      order by c.i`,
    );
    expect(answers.map((row) => row['next'])).toEqual(
      cases.map((c) => nextState(c.state, c.move, c.used, c.limit, c.thresholds)),
    );
  });
});

describe.each(STORE_KINDS)('limit alerts and the catalog on %s', (kind) => {
  it('a catalog edit re-assesses every tenant on the plan; tenants on other plans are untouched', async () => {
    const h = await createHarness({ store: kind });
    const onGrowth = await h.tenant('growth'); // 5 deployments
    const overridden = await h.tenant('growth', { overrides: { deployments: 10 } });
    const elsewhere = await h.tenant('free', { overrides: { deployments: 4 } });
    for (const tenant of [onGrowth, overridden, elsewhere]) {
      await h.store.usage.setUsage(tenant, { deployments: 3 }, 'test');
    }
    const setGrowth = (deployments: number) =>
      h.asAdmin('/admin/plans/growth', json({ deployments, self_hosted_workers: null }, 'PUT'));
    expect((await setGrowth(4)).status).toBe(200); // 3 of 4: 75 %, nothing
    expect((await setGrowth(3)).status).toBe(200); // reached
    expect((await setGrowth(100)).status).toBe(200); // resolved
    const alerts = await h.db
      .select()
      .from(billingEvent)
      .where(like(billingEvent.type, 'limit.%'))
      .orderBy(asc(billingEvent.sequence));
    expect(
      alerts.map((event) => [event.tenantId, event.type, event.data['used'], event.data['limit']]),
    ).toEqual([
      [onGrowth, 'limit.reached', 3, 3],
      [onGrowth, 'limit.resolved', 3, 100],
    ]);
  });
});

describe.runIf(STORE_KINDS.includes('postgres'))(
  'limit alerts on two replicas of one PostgreSQL database',
  () => {
    const h = useHarness({ store: 'postgres' });
    let other: Harness;
    beforeAll(async () => {
      other = h.withApp({ dependencies: { store: await h.database.openReplica() } });
    });

    const alertTypes = async (tenant: string) =>
      (
        await h.db
          .select({ type: billingEvent.type })
          .from(billingEvent)
          .where(and(eq(billingEvent.tenantId, tenant), like(billingEvent.type, 'limit.%')))
          .orderBy(asc(billingEvent.sequence))
      ).map((event) => event.type);

    it('concurrent grants and refusals on both replicas: each transition once', async () => {
      const tenant = await h.tenant('free', { overrides: { deployments: 20 } });
      const [a, b] = [usageOf(h, tenant), usageOf(other, tenant)];
      await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).reserve(1)));
      expect(await alertTypes(tenant)).toEqual(['limit.warning', 'limit.reached']);
    });

    it('concurrent refusals below the limit on both replicas: one limit.reached', async () => {
      const tenant = await h.tenant('free', { overrides: { deployments: 20 } });
      await usageOf(h, tenant).reserve(2);
      const [a, b] = [usageOf(h, tenant), usageOf(other, tenant)];
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).reserve(19)),
      );
      expect(answers.every((id) => id === null)).toBe(true);
      expect(await alertTypes(tenant)).toEqual(['limit.reached']);
    });

    it('a grant in flight when the limit changes is judged against the new limit at its commit', async () => {
      if (!h.database.url) throw new Error('no url');
      const tenant = await h.tenant('free', { overrides: { deployments: 10 } });
      await h.store.usage.setUsage(tenant, { deployments: 6 }, 'test');
      const direct = postgres(h.database.url, { max: 2, onnotice: () => {} });
      onTestFinished(() => direct.end());
      // A usage change in flight (7 of 10: nothing alone), holding its counter row until let go.
      let letGo: () => void = () => {};
      let holding: () => void = () => {};
      const held = new Promise<void>((resolve) => {
        holding = resolve;
      });
      const grant = direct.begin(async (tx) => {
        await tx`update usage_counter set used = 7 where organization_id = ${tenant} and resource = 'deployments'`;
        holding();
        await new Promise<void>((resolve) => {
          letGo = resolve;
        });
      });
      await held;
      // The limit lowered to 8 meanwhile: judged against the committed 6 (75 %), nothing.
      await usageOf(other, tenant).limit(8);
      const alerts = () =>
        h.db
          .select()
          .from(billingEvent)
          .where(and(eq(billingEvent.tenantId, tenant), like(billingEvent.type, 'limit.%')));
      expect(await alerts()).toEqual([]);
      // The grant commits: judged then, under the state row's lock, against the limit as it is now.
      letGo();
      await grant;
      const [event, ...more] = await alerts();
      expect(more).toEqual([]);
      expect(event?.data).toEqual({
        tenant_id: tenant,
        resource: 'deployments',
        used: 7,
        limit: 8,
        state: 'warning',
      });
    });
  },
);
