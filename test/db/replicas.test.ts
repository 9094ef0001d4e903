import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBillingApp } from '../../src/app.js';
import { openLimitsStore } from '../../src/db/open-store.js';
import type { LimitsStore } from '../../src/limits/limits-store.js';
import { openTestDatabase, STORE_KINDS, type TestDatabase } from '../support/test-store.js';
import { adminToken, workerToken } from '../support/tokens.js';

const SECRET = 'worker-secret-for-replica-tests-0000000001';
const ADMIN_SECRET = 'admin-secret-for-replica-tests-00000000001';

describe.runIf(STORE_KINDS.includes('postgres'))('two replicas on one PostgreSQL database', () => {
  let database: TestDatabase;
  let replicaStore: LimitsStore;
  beforeAll(async () => {
    database = await openTestDatabase('postgres');
    replicaStore = (await database.openReplica()).store;
  });
  afterAll(() => database?.close());

  it('serves a write made on replica A from replica B within a second, not after the TTL', async () => {
    const a = createBillingApp({ secret: SECRET, adminSecret: ADMIN_SECRET, store: database.store });
    const b = createBillingApp({ secret: SECRET, store: replicaStore, cacheTtlMs: 3_600_000 });
    const worker = await workerToken(SECRET);
    const tenant = `org-${randomUUID()}`;
    await database.store.putTenant(tenant, { planId: 'free' }, 'test');
    const deploymentsOnB = async () => {
      const res = await b.request('/billing/limits', {
        headers: { authorization: `Bearer ${worker}`, 'tenant-id': tenant },
      });
      return ((await res.json()) as { limits: { deployments: number | null } }).limits.deployments;
    };
    expect(await deploymentsOnB()).toBe(1); // B now holds the tenant for an hour

    const put = await a.request(`/admin/tenants/${tenant}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${await adminToken(ADMIN_SECRET)}` },
      body: JSON.stringify({ overrides: { deployments: 42 } }),
    });
    expect(put.status).toBe(200);
    const written = Date.now();
    let seen = await deploymentsOnB();
    while (seen !== 42 && Date.now() - written < 1_000) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      seen = await deploymentsOnB();
    }
    expect(seen).toBe(42);
    expect(Date.now() - written).toBeLessThan(1_000);
  });

  it('spreads a plan change to the other replica as well', async () => {
    const b = createBillingApp({
      secret: SECRET,
      store: replicaStore,
      planSource: 'header',
      cacheTtlMs: 3_600_000,
    });
    const worker = await workerToken(SECRET);
    const headers = { authorization: `Bearer ${worker}`, 'tenant-id': 'org-x', 'x-plan-type': 'free' };
    const freeDeployments = async () =>
      (
        (await (await b.request('/billing/limits', { headers })).json()) as {
          limits: { deployments: number };
        }
      ).limits.deployments;
    expect(await freeDeployments()).toBe(1);
    await database.store.updatePlan('free', { deployments: 2, self_hosted_workers: 5 }, 'ops');
    const deadline = Date.now() + 1_000;
    while ((await freeDeployments()) !== 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(await freeDeployments()).toBe(2);
    await database.store.updatePlan('free', { deployments: 1, self_hosted_workers: 5 }, 'ops');
  });
});

describe('the embedded store across restarts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'billing-restart-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps its data and seeds the demo tenants only the first time', async () => {
    const dataDir = join(dir, 'nested', 'pglite'); // parents are created
    const first = await openLimitsStore({ dataDir, seedDemo: true });
    expect((await first.findTenant('org-456'))?.planId).toBe('growth');
    await first.putTenant('org-456', { planId: 'enterprise' }, 'test');
    await first.putTenant('org-new', { planId: 'free', overrides: { deployments: 2 } }, 'test');
    await first.close();

    const second = await openLimitsStore({ dataDir, seedDemo: true });
    expect((await second.findTenant('org-456'))?.planId).toBe('enterprise');
    expect((await second.findTenant('org-new'))?.overrides).toEqual({ deployments: 2 });
    await second.close();
  });
});
