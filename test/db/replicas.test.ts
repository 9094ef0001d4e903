import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openBillingStore } from '../../src/db/store.js';
import { eventuallyReads } from '../support/eventually.js';
import { createHarness, STORE_KINDS, unique, useHarness } from '../support/harness.js';

describe.runIf(STORE_KINDS.includes('postgres'))('two replicas on one PostgreSQL database', () => {
  const h = useHarness({ store: 'postgres' });

  // The product's promise is "within a second"; these tests check that the change arrives at all,
  // long before the hour-long TTL. How fast it arrives is measured: scripts/bench/propagation.ts.
  it('serves a write made on replica A from replica B once notified, not after the TTL', async () => {
    const b = h.withApp({
      dependencies: { store: await h.database.openReplica() },
      config: { cacheTtlMs: 3_600_000 },
    });
    const tenant = await h.tenant('free');
    const deploymentsOnB = async () => (await b.limits(tenant)).deployments;
    expect(await deploymentsOnB()).toBe(1); // B now holds the tenant for an hour

    const put = await h.asAdmin(`/admin/tenants/${tenant}`, {
      method: 'PUT',
      body: JSON.stringify({ overrides: { deployments: 42 } }),
    });
    expect(put.status).toBe(200);
    await eventuallyReads(deploymentsOnB, 42);
  });

  it('spreads a plan change to the other replica as well', async () => {
    // The catalog is every tenant's: this test changes it on a database of its own.
    const own = await createHarness({ store: 'postgres' });
    const b = own.withApp({
      dependencies: { store: await own.database.openReplica() },
      config: { planSource: 'header', cacheTtlMs: 3_600_000 },
    });
    const freeDeployments = async () => (await b.limits('org-x')).deployments;
    expect(await freeDeployments()).toBe(1);
    await own.store.tenants.updatePlan('free', { deployments: 2, self_hosted_workers: 5 }, 'ops');
    await eventuallyReads(freeDeployments, 2);
  });
});

describe('the embedded store across restarts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'billing-restart-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps its data and seeds the demo tenants only the first time', async () => {
    const dataDir = join(dir, 'nested', 'pglite'); // parents are created
    const tenant = unique('org-new');
    const first = await openBillingStore({ dataDir, seedDemo: true });
    expect((await first.tenants.findTenant('org-456'))?.planId).toBe('growth');
    await first.tenants.putTenant('org-456', { plan_id: 'enterprise' }, 'test');
    await first.tenants.putTenant(tenant, { plan_id: 'free', overrides: { deployments: 2 } }, 'test');
    await first.close();

    const second = await openBillingStore({ dataDir, seedDemo: true });
    expect((await second.tenants.findTenant('org-456'))?.planId).toBe('enterprise');
    expect((await second.tenants.findTenant(tenant))?.overrides).toEqual({ deployments: 2 });
    await second.close();
  });
});
