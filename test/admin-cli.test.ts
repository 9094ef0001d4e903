import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jwtVerify } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN_SECRET, WORKER_SECRET } from './support/harness.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dataDir = join(mkdtempSync(join(tmpdir(), 'billing-cli-')), 'pglite');

/** Runs `npm run admin -- …` as an operator would, on an embedded database of its own. */
function admin(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/admin.ts', ...args],
      {
        cwd: root,
        timeout: 60_000,
        env: {
          PATH: process.env['PATH'] ?? '',
          BILLING_DATA_DIR: dataDir,
          BILLING_JWT_SECRET: WORKER_SECRET,
          BILLING_ADMIN_SECRET: ADMIN_SECRET,
        },
      },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

afterAll(() => rmSync(join(dataDir, '..'), { recursive: true, force: true }));

describe('npm run admin', () => {
  it('creates a tenant with an override, changes one override only, and shows it', async () => {
    const created = await admin(
      'tenant',
      'set',
      'org-cli',
      '--plan',
      'growth',
      '--customer',
      'cus_cli',
      '--deployments',
      '10',
    );
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({
      tenant_id: 'org-cli',
      customer_id: 'cus_cli',
      overrides: { deployments: 10 },
      limits: { deployments: 10, self_hosted_workers: null, plan_type: 'growth' },
    });
    const changed = await admin('tenant', 'set', 'org-cli', '--workers', '3');
    expect(JSON.parse(changed.stdout).overrides).toEqual({ deployments: 10, self_hosted_workers: 3 });
    const inherited = await admin('tenant', 'set', 'org-cli', '--deployments', 'inherit');
    expect(JSON.parse(inherited.stdout).limits).toEqual({
      deployments: 5,
      self_hosted_workers: 3,
      plan_type: 'growth',
    });
    const shown = await admin('tenant', 'show', 'org-cli');
    expect(JSON.parse(shown.stdout)).toEqual(JSON.parse(inherited.stdout));
  }, 60_000);

  it('changes a plan and refuses bad arguments with exit code 2', async () => {
    const set = await admin('plan', 'set', 'free', '--deployments', '2', '--workers', 'unlimited');
    expect(JSON.parse(set.stdout)).toMatchObject({
      plan_id: 'free',
      deployments: 2,
      self_hosted_workers: null,
    });
    const unknownPlan = await admin('plan', 'set', 'gold', '--deployments', '2', '--workers', '2');
    expect(unknownPlan.code).toBe(2);
    expect(unknownPlan.stderr).toMatch(/^plan: /);
    const negative = await admin('tenant', 'set', 'org-cli', '--deployments', '-3');
    expect(negative.code).toBe(2);
    const newCustomerWithoutPlan = await admin('tenant', 'set', 'org-nobody');
    expect(newCustomerWithoutPlan.code).toBe(1);
    expect(newCustomerWithoutPlan.stderr).toContain('plan_id is required');
  }, 60_000);

  it('mints worker and admin tokens the service accepts', async () => {
    const worker = (await admin('token', 'worker')).stdout.trim();
    const { payload } = await jwtVerify(worker, new TextEncoder().encode(WORKER_SECRET), {
      audience: 'worker',
    });
    expect(payload['ver']).toBe('1');
    const adminToken = (await admin('token', 'admin', '--sub', 'carol')).stdout.trim();
    const verified = await jwtVerify(adminToken, new TextEncoder().encode(ADMIN_SECRET), {
      audience: 'billing-admin',
    });
    expect(verified.payload.sub).toBe('carol');
  }, 60_000);
});
