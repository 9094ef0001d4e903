import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { describe, expect, inject, it } from 'vitest';
import { ListenConnectionError, openDatabase } from '../../src/db/database.js';
import { openBillingStore } from '../../src/db/store.js';
import type { LimitsChange } from '../../src/domain/limits/changes.js';
import { eventually } from '../support/eventually.js';
import { openTestDatabase, STORE_KINDS, type StoreKind, unique } from '../support/harness.js';
import { CHECKED_IN_MIGRATIONS } from '../support/migrations.js';

const postgresUrl = process.env['TEST_DATABASE_URL'];

describe.each(STORE_KINDS)('the assembled store on %s', (kind: StoreKind) => {
  it('answers a ping, counts no pending migration, hears its own writes, and stops telling a listener that left', async () => {
    const database = await openTestDatabase(kind);
    const { store } = database;
    try {
      expect(store.invalidation).toBe('notify');
      await expect(store.ping()).resolves.toBeUndefined();
      expect(await store.pendingMigrations()).toBe(0);
      const stayed: LimitsChange[] = [];
      const left: LimitsChange[] = [];
      store.subscribe((change) => stayed.push(change));
      const leave = store.subscribe((change) => left.push(change));
      leave();
      const tenantId = unique('org-store');
      await store.tenants.putTenant(tenantId, { plan_id: 'free' }, 'alice');
      await eventually(() => stayed.length > 0, 5_000);
      expect(stayed).toEqual([{ tenants: [tenantId] }]);
      expect(left).toEqual([]);
    } finally {
      await database.close();
    }
    expect(store.closing.aborted).toBe(true);
    await expect(store.ping()).rejects.toThrow();
  });

  // The harness assembles its stores before a test runs; this one is assembled inside the test,
  // so what the assembly prepares (the three one-round-trip statements) is exercised by it too.
  it('reserves, renews and releases through statements prepared when it is assembled', async () => {
    const database = await openTestDatabase(kind);
    try {
      const { usage, tenants } = database.store;
      const tenantId = unique('org-prepared');
      await tenants.putTenant(tenantId, { plan_id: 'free' }, 'alice');
      const reserved = await usage.reserve(tenantId, {
        resource: 'self_hosted_workers',
        quantity: 2,
        idempotencyKey: 'key-1',
        fingerprint: 'fingerprint-1',
        reference: 'worker-a',
        leaseSeconds: 60,
      });
      if (reserved.kind !== 'granted') throw new Error(`expected a grant, got ${reserved.kind}`);
      expect(reserved.grant).toMatchObject({
        resource: 'self_hosted_workers',
        quantity: 2,
        used: 2,
        limit: 5,
        overage: false,
      });
      const { reservationId } = reserved.grant;
      const renewed = await usage.renew(tenantId, reservationId, 120);
      if (renewed.kind !== 'renewed') throw new Error(`expected a renewal, got ${renewed.kind}`);
      expect(renewed.grant).toMatchObject({
        reservationId,
        resource: 'self_hosted_workers',
        quantity: 2,
        used: 2,
      });
      expect(renewed.grant.expiresAt?.getTime()).toBeGreaterThan(
        reserved.grant.expiresAt?.getTime() ?? Infinity,
      );
      expect(await usage.release(tenantId, reservationId)).toEqual({
        kind: 'released',
        resource: 'self_hosted_workers',
      });
      expect(await usage.renew(tenantId, reservationId, 60)).toEqual({ kind: 'released' });
      expect(await usage.release(tenantId, reservationId)).toEqual({ kind: 'already_released' });
    } finally {
      await database.close();
    }
  });

  it('counts every checked-in migration as pending where none was recorded, and none when a newer replica recorded more', async () => {
    const database = await openTestDatabase(kind);
    try {
      const { db, store } = database;
      await db.execute(
        sql`insert into drizzle.__drizzle_migrations (hash, created_at) values ('from-a-newer-release', 0)`,
      );
      expect(await store.pendingMigrations()).toBe(0);
      await db.execute(sql`drop table drizzle.__drizzle_migrations`);
      expect(await store.pendingMigrations()).toBe(CHECKED_IN_MIGRATIONS);
      await db.execute(sql`drop schema drizzle`);
      expect(await store.pendingMigrations()).toBe(CHECKED_IN_MIGRATIONS);
    } finally {
      await database.close();
    }
  });
});

describe('openBillingStore on PGlite', () => {
  const template = () => new Blob([readFileSync(inject('pgliteTemplate'))]);

  it('seeds the demo tenants when asked, and not otherwise', async () => {
    const seeded = await openBillingStore({ pgliteTemplate: template(), seedDemo: true });
    try {
      expect((await seeded.tenants.findTenant('org-123'))?.planId).toBe('free');
      expect((await seeded.tenants.findTenant('org-456'))?.planId).toBe('growth');
      expect((await seeded.tenants.findTenant('org-789'))?.planId).toBe('enterprise');
      // Once per database: the seed is recorded under its name.
      expect(await seeded.tenants.seedOnce('demo-tenants', [])).toBe(false);
    } finally {
      await seeded.close();
    }
    const bare = await openBillingStore({ pgliteTemplate: template() });
    try {
      expect(await bare.tenants.findTenant('org-123')).toBeUndefined();
    } finally {
      await bare.close();
    }
  });

  it('closes twice without an error', async () => {
    const store = await openBillingStore({ pgliteTemplate: template() });
    await store.close();
    await expect(store.close()).resolves.toBeUndefined();
  });
});

describe.runIf(postgresUrl)('openDatabase on PostgreSQL with a LISTEN URL of its own', () => {
  it('names the LISTEN URL it cannot reach, without its password, and keeps the cause', async () => {
    const database = await openTestDatabase('postgres');
    try {
      const handle = await openDatabase({
        url: database.url ?? '',
        listenUrl: 'postgres://postgres:hunter2@127.0.0.1:1/nowhere',
      });
      try {
        const refused = handle.listen('billing_limits_changed', () => {});
        await expect(refused).rejects.toBeInstanceOf(ListenConnectionError);
        await expect(refused).rejects.toMatchObject({
          name: 'ListenConnectionError',
          url: '127.0.0.1:1/nowhere',
          code: 'ECONNREFUSED',
          message: expect.stringMatching(/^cannot LISTEN on 127\.0\.0\.1:1\/nowhere: /),
          cause: expect.objectContaining({ code: 'ECONNREFUSED' }),
        });
        await expect(refused).rejects.not.toThrow('hunter2');
      } finally {
        await handle.close();
      }
    } finally {
      await database.close();
    }
  });
});
