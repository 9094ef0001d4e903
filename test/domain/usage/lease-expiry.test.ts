/**
 * Leases expiring for real, with every replica sweeping (two on PostgreSQL): each unrenewed lease
 * counted out exactly once, a renewal racing the expiry won by exactly one of the two, and
 * concurrent sweeps never taking one lease twice.
 */
import { randomUUID } from 'node:crypto';
import { eq, inArray, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { Reservation } from '../../../src/contract/usage.js';
import { reservation } from '../../../src/db/schema.js';
import type { BillingStore } from '../../../src/domain/store.js';
import type { ExpiredLease } from '../../../src/domain/usage/usage-store.js';
import { eventually } from '../../support/eventually.js';
import { type Harness, STORE_KINDS, useHarness } from '../../support/harness.js';
import { capturedLogs, rowsOf, untilTestEnds } from '../../support/leases.js';
import { parsePrometheus, sampleSum } from '../../support/prometheus.js';

/** An app sweeping every `sweepMs` until the test ends, whose expiry log lines the test reads. */
function sweeping(h: Harness, store: BillingStore, sweepMs: number) {
  const log = capturedLogs();
  const app = h.withApp({
    dependencies: { store: untilTestEnds(store), logger: log.logger },
    config: { leaseSweepMs: sweepMs },
  });
  const headers = (tenant: string) => ({ 'tenant-id': tenant, 'content-type': 'application/json' });
  return {
    app,
    /** Its expiry log lines so far. */
    get expiries() {
      return log.expiries();
    },
    async grant(tenant: string, body: Record<string, unknown>): Promise<Reservation> {
      const res = await app.asWorker('/billing/reservations', {
        method: 'POST',
        headers: headers(tenant),
        body: JSON.stringify({ idempotency_key: randomUUID(), ...body }),
      });
      const text = await res.text();
      if (res.status !== 201) throw new Error(`reserve: ${res.status} ${text}`);
      return JSON.parse(text) as Reservation;
    },
    renew: (tenant: string, id: string, body: Record<string, unknown>) =>
      app.asWorker(`/billing/reservations/${id}/renew`, {
        method: 'POST',
        headers: headers(tenant),
        body: JSON.stringify(body),
      }),
    async expiredCount() {
      const text = await (await app.request('/metrics')).text();
      return sampleSum(parsePrometheus(text), 'billing_reservations_expired_total', {
        resource: 'self_hosted_workers',
      });
    },
  };
}

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

describe.each(STORE_KINDS)('lease expiry on %s', (kind) => {
  const h = useHarness({ store: kind });

  /** Every replica of the test: one on PGlite (a single client), two on PostgreSQL. */
  const replicas = async (sweepMs: number) => {
    const stores = kind === 'postgres' ? [h.store, await h.database.openReplica()] : [h.store];
    return stores.map((store) => sweeping(h, store, sweepMs));
  };
  const used = async (tenant: string) => {
    const [row] = await rowsOf(
      h.db,
      sql`select used from usage_counter where organization_id = ${tenant} and resource = 'self_hosted_workers'`,
    );
    return Number(row?.['used']);
  };
  const rowsIn = (ids: string[]) => h.db.select().from(reservation).where(inArray(reservation.id, ids));

  it('of 50 leases, 25 renewed and 25 left to run out: usage falls by exactly the unrenewed quantity', async () => {
    const apps = await replicas(100);
    const appOf = (i: number) => apps[i % apps.length] ?? apps[0];
    const tenant = await h.tenant('growth');
    // Held without a lease throughout: a quantity counted out twice could not hide behind zero.
    await appOf(0)?.grant(tenant, { resource: 'self_hosted_workers', quantity: 1000 });
    // Quantities 1..50: the count that remains says which were counted out, and how often.
    const leases = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        appOf(i)?.grant(tenant, { resource: 'self_hosted_workers', quantity: i + 1, lease_seconds: 10 }),
      ),
    );
    const granted = leases.filter((lease): lease is Reservation => lease !== undefined);
    expect(granted).toHaveLength(50);
    expect(await used(tenant)).toBe(1000 + 1275);
    const renewed = granted.filter((lease) => lease.quantity % 2 === 0);
    const unrenewed = granted.filter((lease) => lease.quantity % 2 === 1);

    // Some seconds into the leases, half of them are renewed for a minute.
    const [first] = await rowsIn(granted.map((lease) => lease.reservation_id));
    const grantedAt = first?.createdAt.getTime() ?? 0;
    await eventually(
      async () =>
        Number(
          (await rowsOf(h.db, sql`select extract(epoch from clock_timestamp()) * 1000 as ms`))[0]?.['ms'],
        ) >=
        grantedAt + 3_000,
      10_000,
      100,
    );
    const renewals = await Promise.all(
      renewed.map((lease, i) =>
        appOf(i)
          ?.renew(tenant, lease.reservation_id, { lease_seconds: 60 })
          .then((res) => res.status),
      ),
    );
    expect(renewals).toEqual(renewed.map(() => 200));

    // The others run out at ~10 s and are swept within a few seconds of it.
    const expected = 1000 + sum(renewed.map((lease) => lease.quantity));
    await eventually(async () => (await used(tenant)) <= expected, 20_000, 100);
    const counted = async () => sum(await Promise.all(apps.map((app) => app.expiredCount())));
    await eventually(async () => (await counted()) >= 25, 5_000);
    expect(await used(tenant)).toBe(expected);
    expect(await counted()).toBe(25);

    const unrenewedRows = await rowsIn(unrenewed.map((lease) => lease.reservation_id));
    for (const row of unrenewedRows) {
      expect(row.releaseReason, row.id).toBe('expired');
      expect(row.releasedAt?.getTime(), row.id).toBeGreaterThanOrEqual(
        row.expiresAt?.getTime() ?? Number.NaN,
      );
    }
    const renewedRows = await rowsIn(renewed.map((lease) => lease.reservation_id));
    for (const row of renewedRows) {
      expect(row, row.id).toMatchObject({ releasedAt: null, releaseReason: null, leaseSeconds: 60 });
    }
    // One line per expiry, wherever it was swept: each lease once.
    const lines = apps.flatMap((app) => app.expiries);
    expect(lines.map((line) => line['reservation_id']).sort()).toEqual(
      unrenewed.map((lease) => lease.reservation_id).sort(),
    );
    for (const line of lines) {
      const lease = unrenewed.find((candidate) => candidate.reservation_id === line['reservation_id']);
      expect(line).toMatchObject({
        level: 'info',
        tenant_id: tenant,
        resource: 'self_hosted_workers',
        quantity: lease?.quantity,
      });
    }
    console.info(
      `50 leases on ${kind}: expiries swept per replica ${apps.map((app) => app.expiries.length).join(' + ')}`,
    );
  }, 60_000);

  it('a renewal racing the expiry: exactly one wins, and the count agrees with the winner', async () => {
    const apps = await replicas(10);
    const appOf = (i: number) => apps[i % apps.length] ?? apps[0];
    const tenant = await h.tenant('growth');
    await appOf(0)?.grant(tenant, { resource: 'self_hosted_workers', quantity: 10_000 });
    const outcomes = new Map<string, { quantity: number; status: number; body: string }>();
    for (let round = 0; round < 4; round++) {
      const leases = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          appOf(i)?.grant(tenant, {
            resource: 'self_hosted_workers',
            quantity: round * 10 + i + 1,
            lease_seconds: 10,
          }),
        ),
      );
      const ids = leases.map((lease) => lease?.reservation_id ?? '');
      // Each lease ends 30–80 ms from now; its renewal is sent 0–120 ms from now.
      await h.db.execute(
        sql`update reservation
            set expires_at = clock_timestamp() + make_interval(secs => (30 + random() * 50) / 1000)
            where id in (${sql.join(
              ids.map((id) => sql`${id}::uuid`),
              sql`, `,
            )})`,
      );
      await Promise.all(
        leases.map(async (lease, i) => {
          if (!lease) throw new Error('not granted');
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 120));
          const res = await appOf(i + round)?.renew(tenant, lease.reservation_id, { lease_seconds: 60 });
          if (!res) throw new Error('no app');
          outcomes.set(lease.reservation_id, {
            quantity: lease.quantity,
            status: res.status,
            body: await res.text(),
          });
        }),
      );
    }
    // Every lease not renewed ran out: wait until the sweeps have taken them all.
    await eventually(async () => {
      const due = await rowsOf(
        h.db,
        sql`select 1 from reservation where organization_id = ${tenant} and released_at is null and expires_at <= clock_timestamp()`,
      );
      return due.length === 0;
    }, 5_000);

    const rows = await h.db.select().from(reservation).where(eq(reservation.organizationId, tenant));
    let won = 0;
    let lost = 0;
    for (const row of rows) {
      if (row.leaseSeconds === null) continue;
      const outcome = outcomes.get(row.id);
      if (!outcome) throw new Error(`no renewal for ${row.id}`);
      if (outcome.status === 200) {
        won++;
        // Renewed: it holds, until the end the renewal answered.
        expect(row, row.id).toMatchObject({ releasedAt: null, leaseSeconds: 60 });
        expect(row.expiresAt?.toISOString()).toBe((JSON.parse(outcome.body) as Reservation).expires_at);
      } else {
        lost++;
        expect([outcome.status, outcome.body]).toEqual([409, '{"detail":{"code":"reservation_expired"}}']);
        expect(row, row.id).toMatchObject({ releaseReason: 'expired' });
        expect(row.releasedAt).not.toBeNull();
      }
    }
    expect(won + lost).toBe(40);
    // The count agrees with the winners: what is still held, and nothing else.
    const [held] = await rowsOf(
      h.db,
      sql`select coalesce(sum(quantity), 0)::integer as held from reservation
          where organization_id = ${tenant} and released_at is null`,
    );
    expect(await used(tenant)).toBe(Number(held?.['held']));
    expect(await used(tenant)).toBe(
      10_000 + sum([...outcomes.values()].filter((o) => o.status === 200).map((o) => o.quantity)),
    );
    // Each expiry counted once, by whichever replica's sweep or renewal released it.
    expect(sum(await Promise.all(apps.map((app) => app.expiredCount())))).toBe(lost);
    expect(apps.flatMap((app) => app.expiries)).toHaveLength(lost);
    console.info(`renew vs expiry on ${kind}: ${won} renewals won, ${lost} expiries won`);
  }, 45_000);

  it('concurrent sweeps take each due lease exactly once, and never deadlock', async () => {
    // Two sweeps per replica at once (one replica on PGlite, whose single client queues them).
    const replica = kind === 'postgres' ? await h.database.openReplica() : h.store;
    const stores = [h.store, replica, h.store, replica];
    // Deployments unlimited (growth holds 5): every lease is granted.
    const tenants = await Promise.all(
      [1, 2, 3, 4].map(() => h.tenant('growth', { overrides: { deployments: null } })),
    );
    const granted: { id: string; tenant: string; quantity: number }[] = [];
    for (let i = 0; i < 200; i++) {
      const tenant = tenants[i % tenants.length] ?? '';
      const resource = i % 3 === 0 ? 'deployments' : 'self_hosted_workers';
      const outcome = await h.store.usage.reserve(tenant, {
        resource,
        quantity: (i % 7) + 1,
        idempotencyKey: randomUUID(),
        reference: `r-${i}`,
        fingerprint: 'f',
        leaseSeconds: 10,
      });
      if (outcome.kind !== 'granted') throw new Error(`not granted: ${outcome.kind}`);
      granted.push({ id: outcome.grant.reservationId, tenant, quantity: outcome.grant.quantity });
    }
    await h.db.execute(
      sql`update reservation set expires_at = clock_timestamp() - interval '1 second'
          where organization_id in (${sql.join(
            tenants.map((tenant) => sql`${tenant}`),
            sql`, `,
          )})`,
    );

    const taken: ExpiredLease[][] = stores.map(() => []);
    await Promise.all(
      stores.map(async (store, which) => {
        for (;;) {
          const batch = await store.usage.expireLeases(50);
          taken[which]?.push(...batch);
          if (batch.length === 0) return;
        }
      }),
    );
    const ids = taken.flat().map((lease) => lease.reservationId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids)).toEqual(new Set(granted.map((lease) => lease.id)));
    console.info(`concurrent sweeps on ${kind}: ${taken.map((t) => t.length).join(' + ')}`);
    for (const lease of taken.flat()) {
      const grant = granted.find((candidate) => candidate.id === lease.reservationId);
      expect(lease).toMatchObject({ tenantId: grant?.tenant, quantity: grant?.quantity });
      expect(lease.reference).toMatch(/^r-\d+$/);
    }
    const counters = await rowsOf(
      h.db,
      sql`select used from usage_counter where organization_id in (${sql.join(
        tenants.map((tenant) => sql`${tenant}`),
        sql`, `,
      )})`,
    );
    expect(counters.map((row) => Number(row['used']))).toEqual(counters.map(() => 0));
    const released = await rowsIn(granted.map((lease) => lease.id));
    expect(released.filter((row) => row.releaseReason !== 'expired')).toEqual([]);
  }, 45_000);
});
