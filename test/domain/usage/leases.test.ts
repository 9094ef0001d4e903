/**
 * Leased reservations (issue 16): a grant may hold its capacity for `lease_seconds` and be
 * renewed; one not renewed by its `expires_at` is released — by the sweep, or by the call that
 * finds it so — as `expired`, its quantity counted out once. Leases are made due by moving
 * `expires_at` into the past in SQL (the clock passing, without the wait); the real-time test with
 * two replicas is in lease-expiry.test.ts.
 */
import { createHash, randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Reservation, ReservationList, UsageResponse } from '../../../src/contract/usage.js';
import type { Database } from '../../../src/db/database.js';
import { reservation } from '../../../src/db/schema.js';
import { startPeriodicTask } from '../../../src/domain/periodic-task.js';
import type { BillingStore } from '../../../src/domain/store.js';
import { eventually } from '../../support/eventually.js';
import {
  type Harness,
  openTestDatabase,
  STORE_KINDS,
  type StoreKind,
  unique,
  useHarness,
} from '../../support/harness.js';
import { capturedLogs, rowsOf, untilTestEnds } from '../../support/leases.js';
import { parsePrometheus, sampleSum } from '../../support/prometheus.js';
import { holdCounterRows } from '../../support/row-lock.js';

const RFC3339_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const EXPIRED_TOTAL = 'billing_reservations_expired_total';

/** The Engine's calls on the usage routes, as a worker, through `app`. */
function clientFor(app: Harness) {
  const headers = (tenant: string) => ({ 'tenant-id': tenant, 'content-type': 'application/json' });
  const reserve = (tenant: string, body: Record<string, unknown>) =>
    app.asWorker('/billing/reservations', {
      method: 'POST',
      headers: headers(tenant),
      body: JSON.stringify(body),
    });
  return {
    reserve,
    /** Reserves, and answers the 201 body (throws on anything else). */
    async grant(tenant: string, body: Record<string, unknown>): Promise<Reservation> {
      const res = await reserve(tenant, { idempotency_key: randomUUID(), ...body });
      const text = await res.text();
      if (res.status !== 201) throw new Error(`reserve: ${res.status} ${text}`);
      return JSON.parse(text) as Reservation;
    },
    /** `body` null: a POST with no body at all. */
    renew: (tenant: string, id: string, body: Record<string, unknown> | null = {}) =>
      app.asWorker(`/billing/reservations/${id}/renew`, {
        method: 'POST',
        headers: body === null ? { 'tenant-id': tenant } : headers(tenant),
        ...(body === null ? {} : { body: JSON.stringify(body) }),
      }),
    release: (tenant: string, id: string) =>
      app.asWorker(`/billing/reservations/${id}`, { method: 'DELETE', headers: headers(tenant) }),
    list: (tenant: string, query = '') =>
      app.asWorker(`/billing/reservations${query}`, { headers: { 'tenant-id': tenant } }),
    async used(tenant: string) {
      const res = await app.asWorker('/billing/usage', { headers: headers(tenant) });
      const { usage } = (await res.json()) as UsageResponse;
      return { deployments: usage.deployments.used, self_hosted_workers: usage.self_hosted_workers.used };
    },
  };
}

/** The database's clock, in ms since the epoch. */
async function databaseNow(db: Database): Promise<number> {
  const [row] = await rowsOf(db, sql`select extract(epoch from clock_timestamp()) * 1000 as ms`);
  return Number(row?.['ms']);
}

/** The lease's end runs from a moment between `before` and `after` (the database's clock). */
function expectLeaseEnd(expiresAt: string | null, leaseSeconds: number, before: number, after: number) {
  if (expiresAt === null) throw new Error('no lease');
  expect(expiresAt).toMatch(RFC3339_UTC);
  const end = Date.parse(expiresAt);
  // The wire keeps milliseconds of the database's microseconds.
  expect(end).toBeGreaterThanOrEqual(Math.floor(before) + leaseSeconds * 1000 - 1);
  expect(end).toBeLessThanOrEqual(Math.ceil(after) + leaseSeconds * 1000 + 1);
}

/** The value of `billing_reservations_expired_total` an app's `/metrics` shows. */
async function expiredCount(app: Harness, resource?: string): Promise<number> {
  const text = await (await app.request('/metrics')).text();
  return sampleSum(parsePrometheus(text), EXPIRED_TOTAL, resource === undefined ? {} : { resource });
}

describe.each(STORE_KINDS)('leases on %s', (kind) => {
  // No sweep in the harness's own app: a lease made due stays unswept unless a test sweeps.
  const h = useHarness({ store: kind });
  const client = clientFor(h);

  const rowOf = async (id: string) => {
    const [row] = await h.db.select().from(reservation).where(eq(reservation.id, id));
    if (!row) throw new Error(`no reservation ${id}`);
    return row;
  };
  /** Moves the leases' ends into the past: as if their time had passed. */
  const makeDue = (...ids: string[]) =>
    h.db.execute(
      sql`update reservation set expires_at = clock_timestamp() - interval '1 second'
          where id in (${sql.join(
            ids.map((id) => sql`${id}::uuid`),
            sql`, `,
          )})`,
    );
  /** An app on the same database whose sweep runs every 100 ms until the test ends. */
  const sweepingApp = (logger = capturedLogs().logger) =>
    h.withApp({ dependencies: { store: untilTestEnds(h.store), logger }, config: { leaseSweepMs: 100 } });

  describe('POST /billing/reservations with a lease', () => {
    it('answers expires_at = the grant + lease_seconds on the database’s clock, and null without a lease', async () => {
      const tenant = await h.tenant('growth');
      const before = await databaseNow(h.db);
      const leased = await client.reserve(tenant, {
        resource: 'deployments',
        quantity: 2,
        idempotency_key: randomUUID(),
        lease_seconds: 30,
      });
      const after = await databaseNow(h.db);
      expect(leased.status).toBe(201);
      const body = (await leased.json()) as Reservation;
      expect(body).toEqual({
        reservation_id: expect.any(String),
        resource: 'deployments',
        quantity: 2,
        used: 2,
        limit: 5,
        remaining: 3,
        overage: false,
        released_at: null,
        expires_at: expect.stringMatching(RFC3339_UTC),
      });
      expectLeaseEnd(body.expires_at, 30, before, after);
      const row = await rowOf(body.reservation_id);
      expect(row).toMatchObject({ leaseSeconds: 30, releasedAt: null, releaseReason: null });
      expect(row.expiresAt?.toISOString()).toBe(body.expires_at);

      const unleased = await client.grant(tenant, { resource: 'deployments' });
      expect(unleased).toMatchObject({ used: 3, expires_at: null });
      expect(await rowOf(unleased.reservation_id)).toMatchObject({ leaseSeconds: null, expiresAt: null });
    });

    it('replays the first answer, and after a renewal the lease’s end as it is now', async () => {
      const tenant = await h.tenant('growth');
      const request = { resource: 'deployments', idempotency_key: randomUUID(), lease_seconds: 30 };
      const first = await client.reserve(tenant, request);
      const firstText = await first.text();
      const again = await client.reserve(tenant, request);
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(await again.text()).toBe(firstText);

      const { reservation_id } = JSON.parse(firstText) as Reservation;
      const renewed = (await (
        await client.renew(tenant, reservation_id, { lease_seconds: 600 })
      ).json()) as Reservation;
      expect(renewed.expires_at).not.toBe((JSON.parse(firstText) as Reservation).expires_at);
      const afterRenewal = await client.reserve(tenant, request);
      expect(afterRenewal.status).toBe(201);
      expect(afterRenewal.headers.get('idempotent-replayed')).toBe('true');
      expect(await afterRenewal.text()).toBe(
        JSON.stringify({ ...JSON.parse(firstText), expires_at: renewed.expires_at }),
      );
      expect((await client.used(tenant)).deployments).toBe(1);
    });

    it.each([
      ['another lease', { lease_seconds: 30 }, { lease_seconds: 31 }],
      ['no lease after a lease', { lease_seconds: 30 }, {}],
      ['a lease after none', {}, { lease_seconds: 30 }],
    ])('refuses the same key with %s (422 idempotency_key_reused)', async (_, first, second) => {
      const tenant = await h.tenant('growth');
      const key = randomUUID();
      await client.grant(tenant, { resource: 'deployments', idempotency_key: key, ...first });
      const reused = await client.reserve(tenant, {
        resource: 'deployments',
        idempotency_key: key,
        ...second,
      });
      expect(reused.status).toBe(422);
      expect(await reused.json()).toMatchObject({
        detail: [{ type: 'idempotency_key_reused', loc: ['body', 'idempotency_key'], input: key }],
      });
      expect((await client.used(tenant)).deployments).toBe(1);
    });

    it('fingerprints a request without a lease as before leases existed: a retry across the upgrade replays', async () => {
      const tenant = await h.tenant('growth');
      // As the service fingerprinted a request before leases (the migration keeps the rows).
      const fingerprint = (request: unknown[]) =>
        createHash('sha256').update(JSON.stringify(request)).digest('hex');
      const granted = await client.grant(tenant, { resource: 'deployments', quantity: 2, reference: 'd-1' });
      expect((await rowOf(granted.reservation_id)).requestFingerprint).toBe(
        fingerprint(['deployments', 2, 'd-1']),
      );

      // A row a replica before leases wrote.
      const oldKey = randomUUID();
      const oldBody = {
        reservation_id: randomUUID(),
        resource: 'deployments',
        quantity: 3,
        used: 5,
        limit: 5,
        remaining: 0,
        overage: false,
      };
      await h.db.insert(reservation).values({
        id: oldBody.reservation_id,
        organizationId: tenant,
        resource: 'deployments',
        quantity: 3,
        idempotencyKey: oldKey,
        requestFingerprint: fingerprint(['deployments', 3, null]),
        response: oldBody,
      });
      const retried = await client.reserve(tenant, {
        resource: 'deployments',
        quantity: 3,
        idempotency_key: oldKey,
      });
      expect(retried.status).toBe(201);
      expect(retried.headers.get('idempotent-replayed')).toBe('true');
      expect(await retried.text()).toBe(JSON.stringify({ ...oldBody, released_at: null, expires_at: null }));
      const withLease = await client.reserve(tenant, {
        resource: 'deployments',
        quantity: 3,
        idempotency_key: oldKey,
        lease_seconds: 30,
      });
      expect(withLease.status).toBe(422);
    });

    it.each([
      ['9 (below the minimum)', 9],
      ['86401 (above a day)', 86_401],
      ['1.5 (not whole)', 1.5],
      ['"10" (a string)', '10'],
      ['null', null],
    ])(
      'refuses lease_seconds %s with 422 on ["body","lease_seconds"], recording nothing',
      async (_, lease) => {
        const tenant = await h.tenant('growth');
        const res = await client.reserve(tenant, {
          resource: 'deployments',
          idempotency_key: randomUUID(),
          lease_seconds: lease,
        });
        expect(res.status).toBe(422);
        const { detail } = (await res.json()) as { detail: { loc: unknown[]; input: unknown }[] };
        expect(detail).toEqual([expect.objectContaining({ loc: ['body', 'lease_seconds'], input: lease })]);
        expect(await h.db.select().from(reservation).where(eq(reservation.organizationId, tenant))).toEqual(
          [],
        );
      },
    );

    it('is refused by the database too outside 10 s to a day (the store’s own check)', async () => {
      const tenant = await h.tenant('growth');
      const request = {
        resource: 'deployments' as const,
        quantity: 1,
        reference: undefined,
        fingerprint: 'f',
      };
      for (const leaseSeconds of [9, 86_401]) {
        await expect(
          h.store.usage.reserve(tenant, { ...request, idempotencyKey: randomUUID(), leaseSeconds }),
        ).rejects.toThrow();
      }
      const granted = await h.store.usage.reserve(tenant, {
        ...request,
        idempotencyKey: randomUUID(),
        leaseSeconds: 10,
      });
      if (granted.kind !== 'granted') throw new Error(`not granted: ${granted.kind}`);
      await expect(h.store.usage.renew(tenant, granted.grant.reservationId, 9)).rejects.toThrow();
      expect(await client.used(tenant)).toEqual({ deployments: 1, self_hosted_workers: 0 });
    });
  });

  describe('POST /billing/reservations/{reservationId}/renew', () => {
    it('renews for the length last granted by default: at creation, then at the latest renewal', async () => {
      const tenant = await h.tenant('growth');
      const { reservation_id } = await client.grant(tenant, { resource: 'deployments', lease_seconds: 30 });
      const renewWith = async (body: Record<string, unknown>, expected: number) => {
        const before = await databaseNow(h.db);
        const res = await client.renew(tenant, reservation_id, body);
        const after = await databaseNow(h.db);
        expect(res.status).toBe(200);
        const renewed = (await res.json()) as Reservation;
        expectLeaseEnd(renewed.expires_at, expected, before, after);
        const row = await rowOf(reservation_id);
        expect(row.leaseSeconds).toBe(expected);
        expect(row.expiresAt?.toISOString()).toBe(renewed.expires_at);
        return renewed;
      };
      await renewWith({}, 30);
      await renewWith({ lease_seconds: 60 }, 60);
      await renewWith({}, 60);
      await renewWith({ lease_seconds: 86_400 }, 86_400);
      await renewWith({ lease_seconds: 10 }, 10);
      expect((await client.used(tenant)).deployments).toBe(1);
    });

    it('renews with no body at all, as with {} (the body is optional)', async () => {
      const tenant = await h.tenant('growth');
      const { reservation_id } = await client.grant(tenant, { resource: 'deployments', lease_seconds: 30 });
      const before = await databaseNow(h.db);
      const res = await client.renew(tenant, reservation_id, null);
      const after = await databaseNow(h.db);
      expect(res.status).toBe(200);
      expectLeaseEnd(((await res.json()) as Reservation).expires_at, 30, before, after);
    });

    it('answers the reservation as POST does, with used, limit and remaining as they are now', async () => {
      const tenant = await h.tenant('growth');
      const granted = await client.grant(tenant, {
        resource: 'deployments',
        quantity: 2,
        lease_seconds: 30,
        reference: 'dep-7',
      });
      expect(granted).toMatchObject({ used: 2, limit: 5, remaining: 3 });
      await h.store.tenants.putTenant(tenant, { overrides: { deployments: 9 } }, 'test');
      await client.grant(tenant, { resource: 'deployments', quantity: 3 });
      const res = await client.renew(tenant, granted.reservation_id, { lease_seconds: 45 });
      expect(res.status).toBe(200);
      const renewed = (await res.json()) as Reservation;
      expect(renewed).toEqual({
        reservation_id: granted.reservation_id,
        resource: 'deployments',
        quantity: 2,
        used: 5,
        limit: 9,
        remaining: 4,
        overage: false,
        released_at: null,
        expires_at: expect.stringMatching(RFC3339_UTC),
      });
      // Unlimited now: no limit, nothing remaining to count.
      await h.store.tenants.putTenant(tenant, { overrides: { deployments: null } }, 'test');
      expect(await (await client.renew(tenant, granted.reservation_id)).json()).toMatchObject({
        used: 5,
        limit: null,
        remaining: null,
      });
    });

    it('keeps the overage of the grant it renews', async () => {
      const tenant = await h.tenant('free', { soft_limits: { deployments: { overage_cap: 3 } } });
      await client.grant(tenant, { resource: 'deployments' });
      const over = await client.grant(tenant, { resource: 'deployments', lease_seconds: 30 });
      expect(over.overage).toBe(true);
      expect(await (await client.renew(tenant, over.reservation_id)).json()).toMatchObject({
        overage: true,
        used: 2,
        limit: 1,
        remaining: 0,
      });
    });

    it('answers 404 {"detail":"Reservation not found"} for an unknown id and another tenant’s reservation', async () => {
      const tenant = await h.tenant('growth');
      const other = await h.tenant('growth');
      const { reservation_id } = await client.grant(other, { resource: 'deployments', lease_seconds: 30 });
      for (const [who, id] of [
        [tenant, randomUUID()],
        [tenant, reservation_id],
        [unique('nobody'), reservation_id],
      ] as const) {
        const res = await client.renew(who, id, { lease_seconds: 60 });
        expect(res.status).toBe(404);
        expect(await res.text()).toBe('{"detail":"Reservation not found"}');
      }
      // Untouched by the refused renewals.
      expect((await rowOf(reservation_id)).leaseSeconds).toBe(30);
    });

    it('answers 409 not_leased / reservation_released / reservation_expired, changing nothing', async () => {
      const tenant = await h.tenant('growth');
      const unleased = await client.grant(tenant, { resource: 'deployments' });
      const released = await client.grant(tenant, { resource: 'deployments', lease_seconds: 30 });
      expect((await client.release(tenant, released.reservation_id)).status).toBe(204);
      const expired = await client.grant(tenant, { resource: 'deployments', lease_seconds: 30 });
      await makeDue(expired.reservation_id);
      expect((await client.release(tenant, expired.reservation_id)).status).toBe(204);
      const used = await client.used(tenant);
      expect(used.deployments).toBe(1);

      for (const [id, code] of [
        [unleased.reservation_id, 'not_leased'],
        [released.reservation_id, 'reservation_released'],
        [expired.reservation_id, 'reservation_expired'],
      ] as const) {
        for (const body of [{}, { lease_seconds: 60 }]) {
          const res = await client.renew(tenant, id, body);
          expect(res.status).toBe(409);
          expect(await res.text()).toBe(JSON.stringify({ detail: { code } }));
        }
      }
      expect(await client.used(tenant)).toEqual(used);
      expect(await rowOf(unleased.reservation_id)).toMatchObject({
        leaseSeconds: null,
        expiresAt: null,
        releasedAt: null,
      });
      expect(await rowOf(released.reservation_id)).toMatchObject({ releaseReason: 'released' });
      expect(await rowOf(expired.reservation_id)).toMatchObject({ releaseReason: 'expired' });
    });

    it.each([
      ['lease_seconds 9', 'ok', { lease_seconds: 9 }, ['body', 'lease_seconds']],
      ['lease_seconds 86401', 'ok', { lease_seconds: 86_401 }, ['body', 'lease_seconds']],
      ['lease_seconds "30"', 'ok', { lease_seconds: '30' }, ['body', 'lease_seconds']],
      ['lease_seconds null', 'ok', { lease_seconds: null }, ['body', 'lease_seconds']],
      ['a field it does not know', 'ok', { lease_seconds: 30, quantity: 2 }, ['body', 'quantity']],
      ['a reservation id that is not a UUID', 'not-a-uuid', {}, ['path', 'reservationId']],
    ])('refuses %s with 422', async (_, id, body, loc) => {
      const tenant = await h.tenant('growth');
      const granted = await client.grant(tenant, { resource: 'deployments', lease_seconds: 30 });
      const res = await client.renew(tenant, id === 'ok' ? granted.reservation_id : id, body);
      expect(res.status).toBe(422);
      expect(await res.json()).toMatchObject({ detail: [{ loc }] });
      expect((await rowOf(granted.reservation_id)).expiresAt?.toISOString()).toBe(granted.expires_at);
    });

    it('is the tRPC mutation billing.renew too, a refusal being CONFLICT with the same detail', async () => {
      const tenant = await h.tenant('growth');
      const trpc = (input: Record<string, unknown>) =>
        h.asWorker('/trpc/billing.renew', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ tenantId: tenant, ...input }),
        });
      const leased = await client.grant(tenant, { resource: 'deployments', lease_seconds: 30 });
      const before = await databaseNow(h.db);
      const renewed = await trpc({ reservationId: leased.reservation_id, lease_seconds: 120 });
      const after = await databaseNow(h.db);
      expect(renewed.status).toBe(200);
      const { result } = (await renewed.json()) as { result: { data: Reservation } };
      expect(result.data).toMatchObject({ reservation_id: leased.reservation_id, used: 1, limit: 5 });
      expectLeaseEnd(result.data.expires_at, 120, before, after);

      const unleased = await client.grant(tenant, { resource: 'deployments' });
      const refused = await trpc({ reservationId: unleased.reservation_id });
      expect(refused.status).toBe(409);
      expect(await refused.json()).toMatchObject({
        error: {
          data: { code: 'CONFLICT', httpStatus: 409, path: 'billing.renew', detail: { code: 'not_leased' } },
        },
      });
      const missing = await trpc({ reservationId: randomUUID() });
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({
        error: { data: { code: 'NOT_FOUND', detail: 'Reservation not found' } },
      });
    });
  });

  describe('expiry', () => {
    it('is the sweep’s: the quantity counted out once, released as expired, counted and logged', async () => {
      const log = capturedLogs();
      const tenant = await h.tenant('growth');
      const dueDeployment = await client.grant(tenant, {
        resource: 'deployments',
        quantity: 2,
        lease_seconds: 30,
        reference: 'dep-2',
      });
      const dueWorkers = await client.grant(tenant, {
        resource: 'self_hosted_workers',
        quantity: 3,
        lease_seconds: 30,
      });
      const holding = await client.grant(tenant, { resource: 'deployments', lease_seconds: 30 });
      await client.grant(tenant, { resource: 'deployments' });
      expect(await client.used(tenant)).toEqual({ deployments: 4, self_hosted_workers: 3 });

      const app = sweepingApp(log.logger);
      await makeDue(dueDeployment.reservation_id, dueWorkers.reservation_id);
      // Within a few seconds of the lease's end (the sweep runs every 100 ms here)...
      await eventually(async () => (await expiredCount(app)) >= 2, 5_000);
      // ...exactly the due quantities, once: a second count would take deployments to 0.
      expect(await client.used(tenant)).toEqual({ deployments: 2, self_hosted_workers: 0 });
      expect(await expiredCount(app)).toBe(2);

      for (const granted of [dueDeployment, dueWorkers]) {
        const row = await rowOf(granted.reservation_id);
        expect(row.releaseReason).toBe('expired');
        expect(row.releasedAt).not.toBeNull();
        // Never before its end.
        expect(row.releasedAt?.getTime()).toBeGreaterThanOrEqual(row.expiresAt?.getTime() ?? Number.NaN);
      }
      expect(await rowOf(holding.reservation_id)).toMatchObject({ releasedAt: null, releaseReason: null });
      expect(await expiredCount(app, 'deployments')).toBe(1);
      expect(await expiredCount(app, 'self_hosted_workers')).toBe(1);
      expect(
        log.expiries().map(({ level, tenant_id, resource, quantity, reservation_id }) => ({
          level,
          tenant_id,
          resource,
          quantity,
          reservation_id,
        })),
      ).toEqual(
        expect.arrayContaining([
          {
            level: 'info',
            tenant_id: tenant,
            resource: 'deployments',
            quantity: 2,
            reservation_id: dueDeployment.reservation_id,
          },
          {
            level: 'info',
            tenant_id: tenant,
            resource: 'self_hosted_workers',
            quantity: 3,
            reservation_id: dueWorkers.reservation_id,
          },
        ]),
      );
      expect(log.expiries()).toHaveLength(2);

      // Released already: DELETE is a 204 that changes nothing, a renewal a 409.
      const deleted = await client.release(tenant, dueDeployment.reservation_id);
      expect(deleted.status).toBe(204);
      const renew = await client.renew(tenant, dueDeployment.reservation_id);
      expect(renew.status).toBe(409);
      expect(await renew.json()).toEqual({ detail: { code: 'reservation_expired' } });
      expect(await client.used(tenant)).toEqual({ deployments: 2, self_hosted_workers: 0 });
      expect(await expiredCount(app)).toBe(2);
      expect((await rowOf(dueDeployment.reservation_id)).releaseReason).toBe('expired');
    });

    it('by a DELETE that finds the lease ended before the sweep: 204, recorded and counted as expired, once', async () => {
      const log = capturedLogs();
      const app = h.withApp({ dependencies: { logger: log.logger } });
      const appClient = clientFor(app);
      const tenant = await h.tenant('growth');
      const lease = await appClient.grant(tenant, {
        resource: 'self_hosted_workers',
        quantity: 4,
        lease_seconds: 30,
      });
      await appClient.grant(tenant, { resource: 'self_hosted_workers', quantity: 1 });
      await makeDue(lease.reservation_id);
      for (let i = 0; i < 2; i++) {
        const res = await appClient.release(tenant, lease.reservation_id);
        expect(res.status).toBe(204);
        expect(await res.text()).toBe('');
        expect((await appClient.used(tenant)).self_hosted_workers).toBe(1);
      }
      expect(await rowOf(lease.reservation_id)).toMatchObject({ releaseReason: 'expired' });
      expect(await expiredCount(app, 'self_hosted_workers')).toBe(1);
      expect(log.expiries()).toEqual([
        expect.objectContaining({
          level: 'info',
          tenant_id: tenant,
          resource: 'self_hosted_workers',
          quantity: 4,
          reservation_id: lease.reservation_id,
        }),
      ]);
      // A lease released before its end is released, as before leases.
      const early = await appClient.grant(tenant, { resource: 'self_hosted_workers', lease_seconds: 30 });
      expect((await appClient.release(tenant, early.reservation_id)).status).toBe(204);
      expect(await rowOf(early.reservation_id)).toMatchObject({ releaseReason: 'released' });
      expect(await expiredCount(app)).toBe(1);
    });

    it('by a renewal that finds the lease ended before the sweep: 409 reservation_expired, counted out once', async () => {
      const log = capturedLogs();
      const app = h.withApp({ dependencies: { logger: log.logger } });
      const appClient = clientFor(app);
      const tenant = await h.tenant('growth');
      const lease = await appClient.grant(tenant, {
        resource: 'deployments',
        quantity: 3,
        lease_seconds: 30,
      });
      await appClient.grant(tenant, { resource: 'deployments', quantity: 1 });
      await makeDue(lease.reservation_id);
      for (let i = 0; i < 2; i++) {
        const res = await appClient.renew(tenant, lease.reservation_id, { lease_seconds: 60 });
        expect(res.status).toBe(409);
        expect(await res.text()).toBe('{"detail":{"code":"reservation_expired"}}');
        expect((await appClient.used(tenant)).deployments).toBe(1);
      }
      expect((await appClient.release(tenant, lease.reservation_id)).status).toBe(204);
      expect((await appClient.used(tenant)).deployments).toBe(1);
      expect(await rowOf(lease.reservation_id)).toMatchObject({ releaseReason: 'expired' });
      expect(await expiredCount(app, 'deployments')).toBe(1);
      expect(log.expiries()).toHaveLength(1);
    });

    it('leaves a lease that has not ended, and one without a lease, to hold', async () => {
      const tenant = await h.tenant('growth');
      const lease = await client.grant(tenant, { resource: 'deployments', quantity: 2, lease_seconds: 10 });
      const plain = await client.grant(tenant, { resource: 'deployments', quantity: 1 });
      // Whatever else is due goes; these two are not.
      const swept = (await h.store.usage.expireLeases(500)).map((expired) => expired.reservationId);
      expect(swept).not.toContain(lease.reservation_id);
      expect(swept).not.toContain(plain.reservation_id);
      expect(await rowOf(lease.reservation_id)).toMatchObject({ releasedAt: null });
      expect(await rowOf(plain.reservation_id)).toMatchObject({ releasedAt: null });
      expect((await client.used(tenant)).deployments).toBe(3);
    });

    it('never lets a lease granted while the store is slow outlive the caller’s deadline', async () => {
      const tenant = await h.tenant('growth');
      await client.grant(tenant, { resource: 'deployments', quantity: 1, lease_seconds: 30 });
      /** The store reached only once the caller's deadline has passed (event-loop lag, simulated). */
      const reachedLate: BillingStore = {
        ...h.store,
        usage: {
          ...h.store.usage,
          reserve(tenantId, request) {
            const { notAfter } = request;
            if (notAfter === undefined) throw new Error('the request has no deadline');
            while (Date.now() <= notAfter) {
              // busy: no timer can fire meanwhile
            }
            return h.store.usage.reserve(tenantId, request);
          },
        },
      };
      const late = h.withApp({ dependencies: { store: reachedLate }, config: { requestTimeoutMs: 20 } });
      for (let i = 0; i < 3; i++) {
        const res = await clientFor(late).reserve(tenant, {
          resource: 'deployments',
          idempotency_key: randomUUID(),
          lease_seconds: 10,
        });
        expect(res.status).toBe(503);
      }
      const active = (await (await client.list(tenant)).json()) as ReservationList;
      expect(active.reservations).toHaveLength(1);
      expect((await client.used(tenant)).deployments).toBe(1);
    });

    it.runIf(kind === 'postgres')(
      'never lets a lease whose grant waited for the counter past the deadline outlive it (503, nothing kept)',
      async () => {
        const tenant = await h.tenant('growth');
        await client.grant(tenant, { resource: 'deployments', quantity: 1, lease_seconds: 30 });
        const slow = clientFor(h.withApp({ config: { requestTimeoutMs: 200 } }));
        // Another transaction holds the tenant's counter row past the request's deadline.
        const lock = await holdCounterRows(h.db, tenant);
        const res = await slow.reserve(tenant, {
          resource: 'deployments',
          quantity: 2,
          idempotency_key: randomUUID(),
          lease_seconds: 10,
        });
        expect(res.status).toBe(503);
        expect(await res.text()).toBe('{"detail":"Request timed out"}');
        await lock.release();
        // The grant queued behind the lock decides now, past its deadline: it keeps nothing.
        await eventually(async () => {
          const waiting = await rowsOf(
            h.db,
            sql`select 1 from pg_stat_activity
                where datname = current_database() and pid <> pg_backend_pid()
                  and state = 'active' and query like '%billing_reserve%'`,
          );
          return waiting.length === 0;
        });
        const rows = await h.db.select().from(reservation).where(eq(reservation.organizationId, tenant));
        expect(rows).toHaveLength(1);
        expect((await client.used(tenant)).deployments).toBe(1);
      },
    );
  });

  describe('GET /billing/reservations', () => {
    const isoOf = (at: Date | null) => (at ? at.toISOString() : null);

    it('lists the active ones by default, newest first, every field as stored', async () => {
      const tenant = await h.tenant('growth');
      const a = await client.grant(tenant, { resource: 'deployments', quantity: 2, reference: 'dep-a' });
      const b = await client.grant(tenant, {
        resource: 'self_hosted_workers',
        quantity: 3,
        lease_seconds: 30,
      });
      const c = await client.grant(tenant, {
        resource: 'deployments',
        lease_seconds: 60,
        reference: 'dep-c',
      });
      const gone = await client.grant(tenant, { resource: 'deployments' });
      await client.release(tenant, gone.reservation_id);

      const res = await client.list(tenant);
      expect(res.status).toBe(200);
      const body = (await res.json()) as ReservationList;
      const expected = await Promise.all(
        [c, b, a].map(async ({ reservation_id }) => {
          const row = await rowOf(reservation_id);
          return {
            reservation_id,
            resource: row.resource,
            quantity: row.quantity,
            reference: row.reference,
            created_at: isoOf(row.createdAt),
            expires_at: isoOf(row.expiresAt),
            released_at: null,
            release_reason: null,
          };
        }),
      );
      expect(body).toEqual({ tenant_id: tenant, reservations: expected, next_cursor: null });
      expect(body.reservations.map((r) => [r.reference, r.expires_at === null])).toEqual([
        ['dep-c', false],
        [null, false],
        ['dep-a', true],
      ]);
      expect(body.reservations[1]?.expires_at).toBe(b.expires_at);
      for (const r of body.reservations) expect(r.created_at).toMatch(RFC3339_UTC);

      const workers = (await (
        await client.list(tenant, '?resource=self_hosted_workers')
      ).json()) as ReservationList;
      expect(workers.reservations.map((r) => r.reservation_id)).toEqual([b.reservation_id]);
      const empty = (await (await client.list(await h.tenant('free'))).json()) as ReservationList;
      expect(empty).toEqual({ tenant_id: expect.any(String), reservations: [], next_cursor: null });
    });

    it('lists released and expired ones by state, with when and why', async () => {
      const tenant = await h.tenant('growth');
      const released = await client.grant(tenant, {
        resource: 'deployments',
        lease_seconds: 30,
        reference: 'r',
      });
      const expired = await client.grant(tenant, {
        resource: 'self_hosted_workers',
        quantity: 2,
        lease_seconds: 30,
      });
      const active = await client.grant(tenant, { resource: 'deployments' });
      await client.release(tenant, released.reservation_id);
      await makeDue(expired.reservation_id);
      await client.renew(tenant, expired.reservation_id);

      const listed = async (query: string) =>
        ((await (await client.list(tenant, query)).json()) as ReservationList).reservations;
      const expectedOf = async (id: string) => {
        const row = await rowOf(id);
        return {
          reservation_id: id,
          resource: row.resource,
          quantity: row.quantity,
          reference: row.reference,
          created_at: isoOf(row.createdAt),
          expires_at: isoOf(row.expiresAt),
          released_at: isoOf(row.releasedAt),
          release_reason: row.releaseReason,
        };
      };
      expect(await listed('?state=released')).toEqual([await expectedOf(released.reservation_id)]);
      expect(await listed('?state=released')).toMatchObject([{ release_reason: 'released', reference: 'r' }]);
      expect(await listed('?state=expired')).toEqual([await expectedOf(expired.reservation_id)]);
      expect(await listed('?state=expired')).toMatchObject([
        { release_reason: 'expired', released_at: expect.stringMatching(RFC3339_UTC) },
      ]);
      expect(await listed('?state=active')).toEqual([await expectedOf(active.reservation_id)]);
      expect(await listed('?state=expired&resource=deployments')).toEqual([]);
    });

    it('pages by limit and cursor: 3, 3, 1, newest first (created_at, then id), none twice', async () => {
      const tenant = await h.tenant('growth');
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        ids.push(
          (
            await client.grant(tenant, {
              resource: 'self_hosted_workers',
              reference: `w-${i}`,
              ...(i % 2 ? { lease_seconds: 30 } : {}),
            })
          ).reservation_id,
        );
      }
      await client.grant(tenant, { resource: 'deployments' });
      // Four share one moment: the id decides among them, across a page boundary.
      await h.db.execute(
        sql`update reservation set created_at = (select created_at from reservation where id = ${ids[1]}::uuid)
            where id in (${sql.join(
              ids.slice(1, 5).map((id) => sql`${id}::uuid`),
              sql`, `,
            )})`,
      );
      const expected = (
        await rowsOf(
          h.db,
          sql`select id::text from reservation
              where organization_id = ${tenant} and resource = 'self_hosted_workers'
              order by created_at desc, id desc`,
        )
      ).map((row) => String(row['id']));
      expect(new Set(expected)).toEqual(new Set(ids));

      const pages: string[][] = [];
      let cursor: string | null = null;
      do {
        const query: string = `?resource=self_hosted_workers&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const res = await client.list(tenant, query);
        expect(res.status).toBe(200);
        const page = (await res.json()) as ReservationList;
        pages.push(page.reservations.map((r) => r.reservation_id));
        cursor = page.next_cursor;
      } while (cursor !== null && pages.length < 10);
      expect(pages.map((page) => page.length)).toEqual([3, 3, 1]);
      expect(pages.flat()).toEqual(expected);

      // The default limit takes them all, and the deployment too.
      const all = (await (await client.list(tenant)).json()) as ReservationList;
      expect(all.reservations).toHaveLength(8);
      expect(all.next_cursor).toBeNull();
      // An exact fit: the last page says so.
      const exact = (await (
        await client.list(tenant, '?resource=self_hosted_workers&limit=7')
      ).json()) as ReservationList;
      expect(exact.reservations).toHaveLength(7);
      expect(exact.next_cursor).toBeNull();
    });

    const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    it.each([
      ['garbage', 'not a cursor!'],
      ['base64 of junk', Buffer.from('junk').toString('base64url')],
      ['base64 of an object', base64url({ at: '2026-12-02T12:00:00.123456Z', id: randomUUID() })],
      [
        'a webhook-events cursor (an id that is not a UUID)',
        base64url(['2026-12-02T12:00:00.123456Z', 'evt_1']),
      ],
      ['a time without microseconds', base64url(['2026-12-02T12:00:00.123Z', randomUUID()])],
      ['an impossible date', base64url(['2026-02-31T12:00:00.123456Z', randomUUID()])],
    ])('refuses a cursor that is %s with 422 on ["query","cursor"]', async (_, cursor) => {
      const tenant = await h.tenant('growth');
      const res = await client.list(tenant, `?cursor=${encodeURIComponent(cursor)}`);
      expect(res.status).toBe(422);
      expect(await res.json()).toMatchObject({ detail: [{ loc: ['query', 'cursor'] }] });
    });

    it('takes a cursor of its own making, UUID and microseconds', async () => {
      const tenant = await h.tenant('growth');
      const res = await client.list(
        tenant,
        `?cursor=${base64url(['2026-12-02T12:00:00.123456Z', randomUUID()])}`,
      );
      expect(res.status).toBe(200);
    });

    it.each([
      ['limit 0', '?limit=0', ['query', 'limit']],
      ['limit 501', '?limit=501', ['query', 'limit']],
      ['limit "x"', '?limit=x', ['query', 'limit']],
      ['limit 1.5', '?limit=1.5', ['query', 'limit']],
      ['state "bogus"', '?state=bogus', ['query', 'state']],
      ['resource "gpus"', '?resource=gpus', ['query', 'resource']],
    ])('refuses %s with 422', async (_, query, loc) => {
      const res = await client.list(await h.tenant('growth'), query);
      expect(res.status).toBe(422);
      expect(await res.json()).toMatchObject({ detail: [{ loc }] });
    });

    it('answers limits 1 and 500', async () => {
      const tenant = await h.tenant('growth');
      await client.grant(tenant, { resource: 'deployments' });
      await client.grant(tenant, { resource: 'deployments' });
      const one = (await (await client.list(tenant, '?limit=1')).json()) as ReservationList;
      expect(one.reservations).toHaveLength(1);
      expect(one.next_cursor).not.toBeNull();
      expect((await client.list(tenant, '?limit=500')).status).toBe(200);
    });

    it('answers 404 {"detail":"Tenant not found"} for an unknown tenant', async () => {
      const res = await client.list(unique('nobody'));
      expect(res.status).toBe(404);
      expect(await res.text()).toBe('{"detail":"Tenant not found"}');
    });
  });
});

describe('the lease sweeper (a periodic task)', () => {
  const waitUntil = (check: () => boolean) => eventually(check, 5_000, 2);

  it('reports a failed sweep through onError and runs the next one all the same', async () => {
    const stop = new AbortController();
    onTestFinished(() => stop.abort());
    const failure = new Error('store away');
    const errors: unknown[] = [];
    let sweeps = 0;
    startPeriodicTask({
      run: async () => {
        sweeps++;
        if (sweeps === 1) throw failure;
        return 0;
      },
      intervalMs: 5,
      signal: stop.signal,
      onError: (error) => errors.push(error),
    });
    await waitUntil(() => sweeps >= 3);
    expect(errors).toEqual([failure]);
  });

  it('runs one sweep at a time, the next an interval after the last one ended', async () => {
    const stop = new AbortController();
    onTestFinished(() => stop.abort());
    let running = 0;
    let most = 0;
    let sweeps = 0;
    startPeriodicTask({
      run: async () => {
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 20));
        running--;
        sweeps++;
        return 0;
      },
      intervalMs: 1,
      signal: stop.signal,
      onError: () => {},
    });
    await waitUntil(() => sweeps >= 4);
    expect(most).toBe(1);
  });

  it('stops when its signal aborts: a sweep under way finishes unreported, none starts after', async () => {
    const stop = new AbortController();
    const errors: unknown[] = [];
    let started = 0;
    let fail: (error: Error) => void = () => {};
    startPeriodicTask({
      run: () => {
        started++;
        return new Promise<number>((_, reject) => {
          fail = reject;
        });
      },
      intervalMs: 1,
      signal: stop.signal,
      onError: (error) => errors.push(error),
    });
    await waitUntil(() => started === 1);
    stop.abort();
    fail(new Error('the database closed under the sweep'));
    // Long enough for many intervals: nothing more may happen.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(started).toBe(1);
    expect(errors).toEqual([]);
  });

  it('runs at once with runAtStart, then every interval; not at all when stopped before', async () => {
    const stop = new AbortController();
    onTestFinished(() => stop.abort());
    const starts: number[] = [];
    const began = Date.now();
    startPeriodicTask({
      run: async () => {
        starts.push(Date.now() - began);
      },
      intervalMs: 60_000,
      signal: stop.signal,
      onError: () => {},
      runAtStart: true,
    });
    // The first run is synchronous with the start; the next is a minute away.
    expect(starts).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(starts).toHaveLength(1);

    const stopped = new AbortController();
    stopped.abort();
    let ran = false;
    startPeriodicTask({
      run: async () => {
        ran = true;
      },
      intervalMs: 1,
      signal: stopped.signal,
      onError: () => {},
      runAtStart: true,
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ran).toBe(false);
  });

  it('does not start once stopped before its first sweep', async () => {
    const stop = new AbortController();
    let started = 0;
    startPeriodicTask({
      run: async () => {
        started++;
        return 0;
      },
      intervalMs: 1,
      signal: stop.signal,
      onError: () => {},
    });
    stop.abort();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(started).toBe(0);
  });

  describe.each(STORE_KINDS)('in an app on %s', (kind: StoreKind) => {
    const h = useHarness({ store: kind });

    it('stops when the store closes, logging nothing about it', async () => {
      const database = await openTestDatabase(kind);
      let closed = false;
      onTestFinished(async () => {
        if (!closed) await database.close();
      });
      const { logger, lines: warnings } = capturedLogs('warn');
      let sweeps = 0;
      const store: BillingStore = {
        ...database.store,
        usage: {
          ...database.store.usage,
          expireLeases(max) {
            sweeps++;
            return database.store.usage.expireLeases(max);
          },
        },
      };
      h.withApp({ dependencies: { store, logger }, config: { leaseSweepMs: 10 } });
      await waitUntil(() => sweeps >= 3);
      await database.close();
      closed = true;
      const atClose = sweeps;
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(sweeps).toBe(atClose);
      expect(warnings).toEqual([]);
    });

    it('reports a failing sweep as a warning and keeps sweeping', async () => {
      const { logger, lines: warnings } = capturedLogs('warn');
      let sweeps = 0;
      const store: BillingStore = untilTestEnds({
        ...h.store,
        usage: {
          ...h.store.usage,
          async expireLeases(max) {
            sweeps++;
            if (sweeps <= 2) throw new Error('connection refused');
            return h.store.usage.expireLeases(max);
          },
        },
      });
      h.withApp({ dependencies: { store, logger }, config: { leaseSweepMs: 10 } });
      await waitUntil(() => sweeps >= 4);
      // Throttled: one line for the two failures in a row.
      expect(warnings).toEqual([expect.objectContaining({ level: 'warn', msg: 'lease sweep failed' })]);
    });
  });
});
