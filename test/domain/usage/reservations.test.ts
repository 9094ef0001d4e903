import { createHash, randomUUID } from 'node:crypto';
import { and, desc, eq, type SQL, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { LimitOverrides, PlanSoftLimits, TenantSoftLimits } from '../../../src/contract/admin.js';
import type { Reservation, Resource, UsageResponse } from '../../../src/contract/usage.js';
import { openDatabase } from '../../../src/db/database.js';
import { auditLog, reservation, usageCounter } from '../../../src/db/schema.js';
import { createUsageStore } from '../../../src/db/usage-store.js';
import { resourcePolicy } from '../../../src/domain/limits/effective-limits.js';
import { ceilingOf } from '../../../src/domain/limits/usage-policy.js';
import { createHarness, type Harness, STORE_KINDS, unique, useHarness } from '../../support/harness.js';
import { holdCounterRows } from '../../support/row-lock.js';

/** The Engine's calls on the usage routes, as a worker, through `app`. */
function clientFor(app: Harness) {
  const headers = (tenant: string) => ({ 'tenant-id': tenant, 'content-type': 'application/json' });
  return {
    reserve: (tenant: string, body: Record<string, unknown>) =>
      app.asWorker('/billing/reservations', {
        method: 'POST',
        headers: headers(tenant),
        body: JSON.stringify(body),
      }),
    release: (tenant: string, id: string) =>
      app.asWorker(`/billing/reservations/${id}`, { method: 'DELETE', headers: headers(tenant) }),
    usage: async (tenant: string) =>
      (await (await app.asWorker('/billing/usage', { headers: headers(tenant) })).json()) as UsageResponse,
    reconcile: (tenant: string, body: Record<string, unknown>) =>
      app.asWorker('/billing/usage', { method: 'PUT', headers: headers(tenant), body: JSON.stringify(body) }),
  };
}

describe.each(STORE_KINDS)('reservations on %s', (kind) => {
  const h = useHarness({ store: kind });
  const client = clientFor(h);

  const key = () => randomUUID();
  const reservations = (tenant: string) =>
    h.db.select().from(reservation).where(eq(reservation.organizationId, tenant));

  it('starts at zero usage with the tenant’s limits', async () => {
    const tenant = await h.tenant('free');
    expect(await client.usage(tenant)).toEqual({
      tenant_id: tenant,
      usage: {
        deployments: { used: 0, limit: 1, remaining: 1, overage: 0 },
        self_hosted_workers: { used: 0, limit: 5, remaining: 5, overage: 0 },
      },
    });
  });

  it('grants within the limit (201), refuses past a hard limit (409) and records nothing for the refusal', async () => {
    const tenant = await h.tenant('free');
    const granted = await client.reserve(tenant, {
      resource: 'deployments',
      quantity: 1,
      idempotency_key: key(),
      reference: 'dep-1',
    });
    expect(granted.status).toBe(201);
    expect(await granted.json()).toEqual({
      reservation_id: expect.any(String),
      resource: 'deployments',
      quantity: 1,
      used: 1,
      limit: 1,
      remaining: 0,
      overage: false,
      released_at: null,
      expires_at: null,
    });
    const refused = await client.reserve(tenant, { resource: 'deployments', idempotency_key: key() });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toEqual({
      detail: { code: 'limit_exceeded', resource: 'deployments', limit: 1, used: 1, requested: 1 },
    });
    expect(await reservations(tenant)).toHaveLength(1);
    expect((await client.usage(tenant)).usage.deployments.used).toBe(1);
  });

  it('never limits an unlimited resource', async () => {
    const tenant = await h.tenant('enterprise');
    const res = await client.reserve(tenant, {
      resource: 'deployments',
      quantity: 1000,
      idempotency_key: key(),
    });
    expect(await res.json()).toMatchObject({ used: 1000, limit: null, remaining: null, overage: false });
  });

  it('answers a repeated idempotency key with the first answer, and refuses it for another request', async () => {
    const tenant = await h.tenant('growth');
    const body = { resource: 'deployments', quantity: 2, idempotency_key: key() };
    const first = (await (await client.reserve(tenant, body)).json()) as Reservation;
    const again = await client.reserve(tenant, body);
    expect(again.status).toBe(201);
    expect(await again.json()).toEqual(first);
    expect((await client.usage(tenant)).usage.deployments.used).toBe(2);
    const reused = await client.reserve(tenant, { ...body, quantity: 3 });
    expect(reused.status).toBe(422);
    expect(await reused.json()).toMatchObject({
      detail: [
        { type: 'idempotency_key_reused', loc: ['body', 'idempotency_key'], input: body.idempotency_key },
      ],
    });
  });

  it('releases (204), idempotently, and refuses another tenant’s reservation (404)', async () => {
    const tenant = await h.tenant('growth');
    const other = await h.tenant('growth');
    const { reservation_id } = (await (
      await client.reserve(tenant, { resource: 'self_hosted_workers', quantity: 3, idempotency_key: key() })
    ).json()) as Reservation;
    expect((await client.release(other, reservation_id)).status).toBe(404);
    const released = await client.release(tenant, reservation_id);
    expect(released.status).toBe(204);
    expect(await released.text()).toBe('');
    expect((await client.release(tenant, reservation_id)).status).toBe(204);
    expect((await client.usage(tenant)).usage.self_hosted_workers.used).toBe(0);
    expect((await client.release(tenant, randomUUID())).status).toBe(404);
    const malformed = await client.release(tenant, 'not-a-uuid');
    expect(malformed.status).toBe(422);
    expect(await malformed.json()).toMatchObject({ detail: [{ loc: ['path', 'reservationId'] }] });
  });

  it('grants past a soft limit as overage, up to the cap, then refuses', async () => {
    const tenant = await h.tenant('free', { soft_limits: { deployments: { overage_cap: 2 } } });
    const grants: Reservation[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await client.reserve(tenant, { resource: 'deployments', idempotency_key: key() });
      expect(res.status).toBe(201);
      grants.push((await res.json()) as Reservation);
    }
    expect(grants.map((g) => [g.used, g.overage, g.remaining])).toEqual([
      [1, false, 0],
      [2, true, 0],
      [3, true, 0],
    ]);
    const past = await client.reserve(tenant, { resource: 'deployments', idempotency_key: key() });
    expect(past.status).toBe(409);
    expect((await client.usage(tenant)).usage.deployments).toEqual({
      used: 3,
      limit: 1,
      remaining: 0,
      overage: 2,
    });
    const billed = await reservations(tenant);
    expect(billed.map((r) => r.overageUnits).sort()).toEqual([0, 1, 1]);
  });

  it('takes soft limits from the plan, and a tenant can make one hard again', async () => {
    // The catalog is every tenant's: this test changes it on a database of its own.
    const own = await createHarness({ store: kind });
    const ownClient = clientFor(own);
    const plan = await own.asAdmin('/admin/plans/growth', {
      method: 'PUT',
      body: JSON.stringify({
        deployments: 5,
        self_hosted_workers: null,
        soft_limits: { deployments: { overage_cap: null } },
      }),
    });
    expect(await plan.json()).toMatchObject({ soft_limits: { deployments: { overage_cap: null } } });
    const soft = await own.tenant('growth');
    const big = await ownClient.reserve(soft, {
      resource: 'deployments',
      quantity: 50,
      idempotency_key: key(),
    });
    expect(await big.json()).toMatchObject({ used: 50, overage: true });
    const hard = await own.tenant('growth', { soft_limits: { deployments: null } });
    expect(
      (await ownClient.reserve(hard, { resource: 'deployments', quantity: 6, idempotency_key: key() }))
        .status,
    ).toBe(409);
  });

  it('after a downgrade below usage: nothing deleted, remaining 0, the excess shown, new reservations refused', async () => {
    const tenant = await h.tenant('growth');
    await client.reserve(tenant, { resource: 'deployments', quantity: 4, idempotency_key: key() });
    await h.store.tenants.putTenant(tenant, { plan_id: 'free' }, 'test');
    expect((await client.usage(tenant)).usage.deployments).toEqual({
      used: 4,
      limit: 1,
      remaining: 0,
      overage: 3,
    });
    expect((await client.reserve(tenant, { resource: 'deployments', idempotency_key: key() })).status).toBe(
      409,
    );
  });

  it('sets usage to the Engine’s absolute counts, audited with the difference', async () => {
    const tenant = await h.tenant('growth');
    await client.reserve(tenant, { resource: 'deployments', quantity: 2, idempotency_key: key() });
    const res = await client.reconcile(tenant, { deployments: 3, self_hosted_workers: 7 });
    expect(res.status).toBe(200);
    expect(((await res.json()) as UsageResponse).usage.deployments).toEqual({
      used: 3,
      limit: 5,
      remaining: 2,
      overage: 0,
    });
    const [entry] = await h.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.subjectId, tenant), eq(auditLog.action, 'usage.reconcile')))
      .orderBy(desc(auditLog.id));
    expect(entry).toMatchObject({
      actor: 'engine',
      before: { deployments: 2, self_hosted_workers: 0 },
      after: {
        deployments: 3,
        self_hosted_workers: 7,
        difference: { deployments: 1, self_hosted_workers: 7 },
      },
    });
    expect((await client.reconcile(tenant, { deployments: -1 })).status).toBe(422);
    expect((await client.reconcile(unique('nobody'), { deployments: 1 })).status).toBe(404);
  });

  it.each([
    ['an unknown resource', { resource: 'gpus', idempotency_key: 'k' }, ['body', 'resource']],
    ['a quantity of 0', { resource: 'deployments', quantity: 0, idempotency_key: 'k' }, ['body', 'quantity']],
    ['no idempotency key', { resource: 'deployments' }, ['body', 'idempotency_key']],
    [
      'a key over 128 characters',
      { resource: 'deployments', idempotency_key: 'k'.repeat(129) },
      ['body', 'idempotency_key'],
    ],
    ['an unknown field', { resource: 'deployments', idempotency_key: 'k', tenant: 'x' }, ['body', 'tenant']],
  ])('refuses %s with 422', async (_, body, loc) => {
    const tenant = await h.tenant('growth');
    const res = await client.reserve(tenant, body);
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ detail: [{ loc }] });
    expect(await reservations(tenant)).toHaveLength(0);
  });

  it('answers an unknown tenant 404 and checks the token first', async () => {
    expect(
      (await client.reserve(unique('nobody'), { resource: 'deployments', idempotency_key: key() })).status,
    ).toBe(404);
    const anonymous = await h.request('/billing/reservations', { method: 'POST', body: '{' });
    expect(anonymous.status).toBe(401);
    const admin = await h.asAdmin('/billing/usage', { headers: { 'tenant-id': await h.tenant('free') } });
    expect(admin.status).toBe(401);
  });

  it('makes no grant once the caller’s deadline has passed, and keeps nothing of it', async () => {
    const tenant = await h.tenant('growth');
    const request = { resource: 'deployments' as const, quantity: 1, reference: undefined, fingerprint: 'f' };
    const late = await h.store.usage.reserve(tenant, {
      ...request,
      idempotencyKey: 'late',
      notAfter: Date.now() - 1,
    });
    expect(late).toEqual({ kind: 'abandoned' });
    expect(await reservations(tenant)).toEqual([]);
    expect((await client.usage(tenant)).usage.deployments.used).toBe(0);
    // The same key, in time: granted (the abandoned attempt claimed nothing).
    const onTime = await h.store.usage.reserve(tenant, {
      ...request,
      idempotencyKey: 'late',
      notAfter: Date.now() + 60_000,
    });
    expect(onTime.kind).toBe('granted');
  });

  const storeRequest = () => ({
    resource: 'deployments' as const,
    quantity: 1,
    reference: undefined,
    fingerprint: 'f',
  });
  const counters = (tenant: string) =>
    h.db
      .select({ resource: usageCounter.resource, used: usageCounter.used })
      .from(usageCounter)
      .where(eq(usageCounter.organizationId, tenant));
  /** Rows of a raw query, whichever driver ran it. */
  async function rows(query: SQL): Promise<Record<string, unknown>[]> {
    const result = (await h.db.execute(query)) as unknown as
      | Record<string, unknown>[]
      | { rows: Record<string, unknown>[] };
    return Array.isArray(result) ? [...result] : result.rows;
  }
  /**
   * `billing_reserve` called as it is, without the service's own checks in front of it — with the
   * seven arguments of a replica before leases (the eighth, `p_lease_seconds`, defaults to none).
   */
  const callReserve = async (
    tenant: string,
    { quantity = 1, key: idempotencyKey = key(), notAfter = null as number | null } = {},
  ) => {
    const [row] = await rows(
      sql`select * from billing_reserve(${tenant}, 'deployments', ${quantity}::integer, ${idempotencyKey}, 'f', null, ${notAfter}::double precision)`,
    );
    return row;
  };

  it('refuses inside billing_reserve leaving no reservation, no count, and the key free', async () => {
    const tenant = await h.tenant('free');
    const refusedKey = key();
    expect(await callReserve(tenant, { quantity: 2, key: refusedKey })).toMatchObject({
      outcome: 'refused',
      reservation_id: null,
      used: 0,
      limit: 1,
      plan_id: 'free',
    });
    expect(await reservations(tenant)).toEqual([]);
    expect(await counters(tenant)).toEqual([{ resource: 'deployments', used: 0 }]);
    // The refusal claimed nothing: the same key is judged anew once the limit allows it.
    await h.store.tenants.putTenant(tenant, { overrides: { deployments: 2 } }, 'test');
    expect(await callReserve(tenant, { quantity: 2, key: refusedKey })).toMatchObject({
      outcome: 'granted',
      used: 2,
      limit: 2,
      overage: false,
    });
    expect(await reservations(tenant)).toHaveLength(1);
  });

  it('abandons inside billing_reserve a grant whose deadline has passed on the database’s clock', async () => {
    const tenant = await h.tenant('growth');
    const lateKey = key();
    expect(await callReserve(tenant, { key: lateKey, notAfter: Date.now() - 1 })).toMatchObject({
      outcome: 'abandoned',
      reservation_id: null,
    });
    expect(await reservations(tenant)).toEqual([]);
    expect(await counters(tenant)).toEqual([]);
    expect(await callReserve(tenant, { key: lateKey, notAfter: Date.now() + 60_000 })).toMatchObject({
      outcome: 'granted',
      used: 1,
    });
    expect(await callReserve(unique('nobody'))).toMatchObject({ outcome: 'tenant_not_found' });
  });

  it.runIf(kind === 'postgres')(
    'abandons a grant whose deadline passes while it waits for the counter row, recording nothing',
    async () => {
      const tenant = await h.tenant('growth');
      expect((await h.store.usage.reserve(tenant, { ...storeRequest(), idempotencyKey: key() })).kind).toBe(
        'granted',
      );
      // Another transaction holds the counter row past the deadline of the grant queued behind it.
      const lock = await holdCounterRows(h.db, tenant);
      const late = h.store.usage.reserve(tenant, {
        ...storeRequest(),
        idempotencyKey: key(),
        notAfter: Date.now() + 200,
      });
      await new Promise((resolve) => setTimeout(resolve, 400));
      await lock.release();
      expect(await late).toEqual({ kind: 'abandoned' });
      expect(await reservations(tenant)).toHaveLength(1);
      expect(await counters(tenant)).toEqual([{ resource: 'deployments', used: 1 }]);
    },
  );

  it('decides with the rules of resourcePolicy and ceilingOf (plan ⊕ overrides, soft limits, caps)', async () => {
    // The test changes the plan catalog: a database of its own.
    const own = await createHarness({ store: kind });
    interface Case {
      resource: Resource;
      plan: number | null;
      planSoft?: PlanSoftLimits;
      overrides?: LimitOverrides;
      tenantSoft?: TenantSoftLimits;
    }
    const cases: Case[] = [
      { resource: 'deployments', plan: 2 },
      { resource: 'deployments', plan: 2, planSoft: { deployments: { overage_cap: 1 } } },
      { resource: 'deployments', plan: 2, planSoft: { deployments: { overage_cap: null } } },
      { resource: 'deployments', plan: null, planSoft: { deployments: { overage_cap: 1 } } },
      {
        resource: 'deployments',
        plan: 2,
        planSoft: { deployments: { overage_cap: 1 } },
        tenantSoft: { deployments: null },
      },
      { resource: 'deployments', plan: 2, tenantSoft: { deployments: { overage_cap: 3 } } },
      { resource: 'deployments', plan: 2, tenantSoft: { deployments: { overage_cap: 0 } } },
      {
        resource: 'deployments',
        plan: 2,
        planSoft: { self_hosted_workers: { overage_cap: 1 } },
        tenantSoft: { self_hosted_workers: null },
      },
      {
        resource: 'deployments',
        plan: 2,
        overrides: { deployments: 4 },
        planSoft: { deployments: { overage_cap: 1 } },
      },
      { resource: 'deployments', plan: 2, overrides: { deployments: null } },
      { resource: 'deployments', plan: null, overrides: { deployments: 3 } },
      { resource: 'deployments', plan: 2, overrides: { deployments: 0 } },
      {
        resource: 'deployments',
        plan: 2,
        overrides: { deployments: 0 },
        tenantSoft: { deployments: { overage_cap: 2 } },
      },
      { resource: 'self_hosted_workers', plan: 3, overrides: { self_hosted_workers: 1 } },
      {
        resource: 'self_hosted_workers',
        plan: 3,
        overrides: { self_hosted_workers: 1 },
        tenantSoft: { self_hosted_workers: { overage_cap: 1 } },
      },
      {
        resource: 'self_hosted_workers',
        plan: 3,
        overrides: { deployments: null },
        planSoft: { deployments: { overage_cap: null } },
      },
    ];
    try {
      for (const c of cases) {
        const label = JSON.stringify(c);
        await own.store.tenants.updatePlan(
          'growth',
          {
            deployments: c.resource === 'deployments' ? c.plan : 5,
            self_hosted_workers: c.resource === 'self_hosted_workers' ? c.plan : null,
            soft_limits: c.planSoft ?? {},
          },
          'test',
        );
        const tenant = await own.tenant('growth', {
          overrides: c.overrides ?? {},
          soft_limits: c.tenantSoft ?? {},
        });
        const record = await own.store.tenants.findTenant(tenant);
        if (!record) throw new Error('tenant not written');
        const policy = resourcePolicy(record, c.resource);
        const ceiling = ceilingOf(policy);
        const reserve = (quantity: number) =>
          own.store.usage.reserve(tenant, {
            resource: c.resource,
            quantity,
            idempotencyKey: key(),
            reference: undefined,
            fingerprint: 'f',
          });
        if (ceiling === null) {
          const outcome = await reserve(10_000);
          expect(outcome, label).toMatchObject({
            kind: 'granted',
            grant: { used: 10_000, limit: policy.limit },
          });
          continue;
        }
        if (ceiling > 0) {
          expect(await reserve(ceiling), label).toEqual({
            kind: 'granted',
            grant: {
              reservationId: expect.any(String),
              resource: c.resource,
              quantity: ceiling,
              used: ceiling,
              limit: policy.limit,
              overage: policy.limit !== null && ceiling > policy.limit,
              expiresAt: null,
            },
            planId: 'growth',
          });
        }
        expect(await reserve(1), label).toEqual({
          kind: 'refused',
          limit: policy.limit,
          used: ceiling,
          planId: 'growth',
        });
      }
    } finally {
      await own.store.tenants.updatePlan(
        'growth',
        { deployments: 5, self_hosted_workers: null, soft_limits: {} },
        'test',
      );
    }
  });

  it('bills past a soft limit only the units past it, however the grant straddles it', async () => {
    const tenant = await h.tenant('free', {
      overrides: { deployments: 2 },
      soft_limits: { deployments: { overage_cap: 3 } },
    });
    const grant = async (quantity: number) =>
      (await (
        await client.reserve(tenant, { resource: 'deployments', quantity, idempotency_key: key() })
      ).json()) as Reservation;
    expect(await grant(1)).toMatchObject({ used: 1, limit: 2, remaining: 1, overage: false });
    expect(await grant(3)).toMatchObject({ used: 4, limit: 2, remaining: 0, overage: true });
    expect(
      (await client.reserve(tenant, { resource: 'deployments', quantity: 2, idempotency_key: key() })).status,
    ).toBe(409);
    expect(await grant(1)).toMatchObject({ used: 5, overage: true });
    const billed = await reservations(tenant);
    expect(billed.map((r) => [r.quantity, r.overageUnits]).sort()).toEqual([
      [1, 0],
      [1, 1],
      [3, 2],
    ]);
  });

  it('replays byte for byte: the first answer, and rows written as the wire body before billing_reserve', async () => {
    const tenant = await h.tenant('growth');
    const body = { resource: 'self_hosted_workers', quantity: 2, idempotency_key: key(), reference: 'w-1' };
    const first = await client.reserve(tenant, body);
    const firstText = await first.text();
    const again = await client.reserve(tenant, body);
    expect(again.status).toBe(201);
    expect(await again.text()).toBe(firstText);
    // The facts of the answer are stored; `released_at` and `expires_at` are read from the row at
    // each replay.
    const [stored] = await reservations(tenant);
    const { released_at, expires_at, ...facts } = JSON.parse(firstText) as Reservation;
    expect(released_at).toBeNull();
    expect(expires_at).toBeNull();
    expect(stored?.response).toEqual(facts);

    // A row as the transaction before billing_reserve wrote it: the 201 body itself.
    const oldKey = key();
    const oldBody = {
      reservation_id: randomUUID(),
      resource: 'deployments',
      quantity: 3,
      used: 7,
      limit: 5,
      remaining: 0,
      overage: true,
    };
    await h.db.insert(reservation).values({
      id: oldBody.reservation_id,
      organizationId: tenant,
      resource: 'deployments',
      quantity: 3,
      idempotencyKey: oldKey,
      // As the service fingerprints a request (src/domain/usage/usage.ts).
      requestFingerprint: createHash('sha256')
        .update(JSON.stringify(['deployments', 3, null]))
        .digest('hex'),
      overageUnits: 2,
      response: oldBody,
    });
    const replayed = await client.reserve(tenant, {
      resource: 'deployments',
      quantity: 3,
      idempotency_key: oldKey,
    });
    expect(replayed.status).toBe(201);
    expect(await replayed.text()).toBe(JSON.stringify({ ...oldBody, released_at: null, expires_at: null }));
    expect(await counters(tenant)).toEqual([{ resource: 'self_hosted_workers', used: 2 }]);
  });

  it('releases never below zero after a reconciliation counted the reservation out', async () => {
    const tenant = await h.tenant('growth');
    const { reservation_id } = (await (
      await client.reserve(tenant, { resource: 'deployments', quantity: 2, idempotency_key: key() })
    ).json()) as Reservation;
    expect((await client.reconcile(tenant, { deployments: 1 })).status).toBe(200);
    expect(await h.store.usage.release(tenant, reservation_id)).toEqual({
      kind: 'released',
      resource: 'deployments',
    });
    expect((await client.usage(tenant)).usage.deployments.used).toBe(0);
    expect(await h.store.usage.release(tenant, reservation_id)).toEqual({ kind: 'already_released' });
    expect(await h.store.usage.release(unique('other'), reservation_id)).toEqual({ kind: 'not_found' });
  });

  it.runIf(kind === 'postgres')(
    'sends each grant and release as one prepared statement (postgres.js keeps it per connection)',
    async () => {
      const single = await openDatabase({ url: h.database.url, maxConnections: 1 });
      try {
        const store = await createUsageStore(single.db);
        const tenant = await h.tenant('growth');
        for (let i = 0; i < 2; i++) {
          const outcome = await store.reserve(tenant, { ...storeRequest(), idempotencyKey: key() });
          if (outcome.kind !== 'granted') throw new Error(`not granted: ${outcome.kind}`);
          expect(await store.release(tenant, outcome.grant.reservationId)).toEqual({
            kind: 'released',
            resource: 'deployments',
          });
        }
        const prepared = (await single.db.execute(
          sql`select statement from pg_prepared_statements order by prepare_time`,
        )) as unknown as { statement: string }[];
        const calls = prepared.map((row) => row.statement).filter((text) => text.includes('billing_'));
        expect(calls).toEqual([
          expect.stringContaining('from billing_reserve($1::text, $2::text, $3::integer'),
          expect.stringContaining('from billing_release($1::text, $2::uuid)'),
        ]);
      } finally {
        await single.close();
      }
    },
  );

  it('grants exactly 5 of 200 concurrent requests against a hard limit of 5', async () => {
    const tenant = await h.tenant('growth');
    const apps =
      kind === 'postgres' ? [h, h.withApp({ dependencies: { store: await h.database.openReplica() } })] : [h];
    const clients = apps.map(clientFor);
    const statuses = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        Promise.resolve(
          (clients[i % clients.length] ?? client).reserve(tenant, {
            resource: 'deployments',
            idempotency_key: key(),
          }),
        ).then((res: Response) => res.status),
      ),
    );
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);
    expect(statuses.filter((s) => s === 409)).toHaveLength(195);
    expect((await client.usage(tenant)).usage.deployments.used).toBe(5);
    expect(await reservations(tenant)).toHaveLength(5);
  });

  it('grants once for the same key sent 20 times at once', async () => {
    const tenant = await h.tenant('growth');
    const body = { resource: 'deployments', idempotency_key: key() };
    const answers = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const res = await client.reserve(tenant, body);
        return { status: res.status, body: (await res.json()) as Reservation };
      }),
    );
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([201]));
    expect(new Set(answers.map((a) => a.body.reservation_id)).size).toBe(1);
    expect((await client.usage(tenant)).usage.deployments.used).toBe(1);
  });
});

describe('without a store', () => {
  const h = useHarness();

  it('has no usage routes (404)', async () => {
    const res = await h.asWorker('/billing/usage', { headers: { 'tenant-id': 'org-1' } });
    expect(res.status).toBe(404);
  });

  it.each([
    ['GET', '/billing/reservations', undefined],
    ['POST', `/billing/reservations/${randomUUID()}/renew`, '{}'],
    ['POST', '/billing/checks', '{"checks":[{"resource":"deployments"}]}'],
    ['GET', '/billing/entitlements', undefined],
  ])('has no %s %s either (404, as if absent)', async (method, path, body) => {
    const res = await h.asWorker(path, {
      method,
      headers: { 'tenant-id': 'org-1', 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body }),
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ detail: 'Not Found' });
  });
});
