/**
 * Migration 0006 on a database that took counts past 1,000,000,000 before the contract bounded
 * them: each is brought down to the bound (read back whole, never a 500 for an answer the output
 * schema refuses), audited, and reservations against them still decide.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { eq } from 'drizzle-orm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../../../src/db/database.js';
import { auditLog, customer, organizationToAccount, plan } from '../../../src/db/schema.js';
import { storeOver } from '../../../src/db/store.js';
import { STORE_KINDS, type StoreKind } from '../../support/harness.js';

const MIGRATIONS = fileURLToPath(new URL('../../../drizzle', import.meta.url));
const BEFORE = '0006_count_bounds_and_released_replays';

/** The checked-in migrations up to (not including) `tag`, in a folder of their own. */
function migrationsBefore(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'billing-migrations-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(MIGRATIONS, dir, { recursive: true });
  const journalPath = join(dir, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
  const index = journal.entries.findIndex((entry) => entry.tag === tag);
  if (index < 0) throw new Error(`no migration ${tag}`);
  writeFileSync(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, index) }));
  return dir;
}

type Seed = (db: ReturnType<typeof drizzlePglite> | ReturnType<typeof drizzlePostgres>) => Promise<void>;

/** A database migrated up to 0005, seeded by `seed`, then opened as the service opens it (migrating on). */
async function openAfter(kind: StoreKind, seed: Seed): Promise<DatabaseHandle> {
  const folder = migrationsBefore(BEFORE);
  if (kind === 'pglite') {
    // On disk: what a deployment's data directory is, and what `openDatabase` migrates on.
    const dataDir = mkdtempSync(join(tmpdir(), 'billing-pglite-'));
    onTestFinished(() => rmSync(dataDir, { recursive: true, force: true }));
    const client = new PGlite(dataDir);
    const db = drizzlePglite(client);
    await migratePglite(db, { migrationsFolder: folder });
    await seed(db);
    await client.close();
    const handle = await openDatabase({ dataDir });
    onTestFinished(() => handle.close());
    return handle;
  }
  const serverUrl = process.env['TEST_DATABASE_URL'] ?? '';
  const name = `billing_migration_${randomBytes(6).toString('hex')}`;
  const server = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await server.unsafe(`create database ${name}`);
  onTestFinished(async () => {
    await server.unsafe(`drop database if exists ${name} with (force)`);
    await server.end();
  });
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const client = postgres(url.toString(), { max: 1, onnotice: () => {} });
  await migratePostgres(drizzlePostgres(client), { migrationsFolder: folder });
  await seed(drizzlePostgres(client));
  await client.end();
  const handle = await openDatabase({ url: url.toString(), maxConnections: 2 });
  onTestFinished(() => handle.close());
  return handle;
}

// Two databases made and migrated from scratch (PGlite: ~10 s on two busy cores).
describe.each(STORE_KINDS)('migration 0006 on %s', { timeout: 90_000 }, (kind) => {
  it('brings counts past 1,000,000,000 down to it (unlimited stays unlimited), audited', async () => {
    const handle = await openAfter(kind, async (db) => {
      await db
        .update(plan)
        .set({
          deployments: 1_500_000_000,
          softLimits: { deployments: { overage_cap: 5_000_000_000 } },
        })
        .where(eq(plan.id, 'growth'));
      await db.insert(customer).values({ id: 'cus-big', planId: 'growth' });
      await db.insert(organizationToAccount).values({
        organizationId: 'org-big',
        customerId: 'cus-big',
        workerAllowance: 2_147_483_647,
        softLimits: { deployments: null, self_hosted_workers: { overage_cap: 1e12 } },
      });
      await db.insert(customer).values({ id: 'cus-small', planId: 'free' });
      await db.insert(organizationToAccount).values({
        organizationId: 'org-small',
        customerId: 'cus-small',
        deploymentAllowance: 1_000_000_000,
        softLimits: { deployments: { overage_cap: 3 } },
      });
    });
    const { db } = handle;
    const store = await storeOver(handle);

    const [growth] = await db.select().from(plan).where(eq(plan.id, 'growth'));
    expect(growth).toMatchObject({
      deployments: 1_000_000_000,
      selfHostedWorkers: null,
      softLimits: { deployments: { overage_cap: 1_000_000_000 } },
    });
    const big = await store.tenants.findTenant('org-big');
    expect(big).toMatchObject({
      overrides: { self_hosted_workers: 1_000_000_000 },
      softLimitOverrides: { deployments: null, self_hosted_workers: { overage_cap: 1_000_000_000 } },
    });

    const audited = await db
      .select({
        actor: auditLog.actor,
        action: auditLog.action,
        subject: auditLog.subjectId,
        before: auditLog.before,
        after: auditLog.after,
      })
      .from(auditLog)
      .where(eq(auditLog.actor, 'migration:0006'))
      .orderBy(auditLog.id);
    expect(audited).toEqual([
      {
        actor: 'migration:0006',
        action: 'plan.bound_counts',
        subject: 'growth',
        before: {
          deployments: 1_500_000_000,
          self_hosted_workers: null,
          soft_limits: { deployments: { overage_cap: 5_000_000_000 } },
        },
        after: {
          deployments: 1_000_000_000,
          self_hosted_workers: null,
          soft_limits: { deployments: { overage_cap: 1_000_000_000 } },
        },
      },
      {
        actor: 'migration:0006',
        action: 'tenant.bound_counts',
        subject: 'org-big',
        before: {
          deployment_allowance: null,
          worker_allowance: 2_147_483_647,
          soft_limits: { deployments: null, self_hosted_workers: { overage_cap: 1e12 } },
        },
        after: {
          deployment_allowance: null,
          worker_allowance: 1_000_000_000,
          soft_limits: { deployments: null, self_hosted_workers: { overage_cap: 1_000_000_000 } },
        },
      },
    ]);
    // Within the bound: untouched.
    expect(await store.tenants.findTenant('org-small')).toMatchObject({
      overrides: { deployments: 1_000_000_000 },
      softLimitOverrides: { deployments: { overage_cap: 3 } },
    });

    const granted = await store.usage.reserve('org-big', {
      resource: 'self_hosted_workers',
      quantity: 10_000,
      idempotencyKey: 'k',
      reference: undefined,
      fingerprint: 'f',
    });
    expect(granted).toMatchObject({ kind: 'granted', grant: { used: 10_000, limit: 1_000_000_000 } });
  });
});
