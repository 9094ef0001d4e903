/**
 * `npm run admin` through a server's admin API (BILLING_URL), the server in this process: the
 * same output as on a store of its own, and each way the server can refuse or be unreachable.
 * (test/cli/admin-beside-server.test.ts does the same beside spawned servers on one data directory.)
 */
import { type AddressInfo, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DrainableServer, listen } from '../../src/http/node-server.js';
import { freshDataDir, run } from '../support/admin-cli.js';
import { ADMIN_SECRET, useHarness } from '../support/harness.js';

describe('npm run admin through a server’s admin API', () => {
  const h = useHarness({ store: 'pglite' });
  let server: DrainableServer;
  let withoutAdmin: DrainableServer;
  beforeAll(async () => {
    server = await listen(h.app.fetch, { port: 0, hostname: '127.0.0.1' });
    withoutAdmin = await listen(h.withApp({ config: { adminSecret: undefined } }).app.fetch, {
      port: 0,
      hostname: '127.0.0.1',
    });
  });
  afterAll(async () => {
    await server?.close(1_000);
    await withoutAdmin?.close(1_000);
  });

  const remote = () => ({
    BILLING_URL: server.origin,
    BILLING_ADMIN_SECRET: ADMIN_SECRET,
    BILLING_DATA_DIR: freshDataDir(),
  });

  it('prints what the same commands print on a store of their own, errors included', async () => {
    const direct = { BILLING_DATA_DIR: freshDataDir(), BILLING_ADMIN_SECRET: ADMIN_SECRET };
    const throughServer = remote();
    const commands = [
      ['plan', 'list'],
      ['--json', 'plan', 'list'],
      ['plan', 'set', 'free', '--deployments', '3', '--workers', 'unlimited'],
      ['--json', 'plan', 'set', 'growth', '--soft-deployments', '2', '--orb-plan-id', 'orb-growth-remote'],
      ['plan', 'set', 'free', '--orb-plan-id', 'orb-growth-remote'],
      ['plan', 'set', 'no-such-plan', '--deployments', '1'],
      ['tenant', 'set', 'org-remote', '--plan', 'growth', '--customer', 'cus_remote', '--deployments', '2'],
      ['--json', 'tenant', 'show', 'org-remote'],
      ['tenant', 'set', 'org-remote', '--workers', '4', '--deployments', 'unlimited'],
      ['--json', 'tenant', 'set', 'org-remote', '--soft-workers', 'uncapped'],
      ['--json', 'tenant', 'clear-overrides', 'org-remote'],
      ['tenant', 'clear-overrides', 'org-nobody'],
      ['tenant', 'show', 'org-nobody'],
      ['tenant', 'set', 'org-nobody', '--workers', '1'],
    ];
    for (const command of commands) {
      const [alone, beside] = [await run(direct, ...command), await run(throughServer, ...command)];
      expect(beside, command.join(' ')).toEqual(alone);
    }
    // The writes live on the server: a CLI beside another, empty data directory reads them there.
    const again = await run(remote(), '--json', 'tenant', 'show', 'org-remote');
    expect(JSON.parse(again.stdout)).toMatchObject({ tenant_id: 'org-remote', customer_id: 'cus_remote' });
  });

  it('needs the admin secret to write through a server', async () => {
    const { BILLING_ADMIN_SECRET: _, ...withoutSecret } = remote();
    expect(await run(withoutSecret, 'plan', 'list')).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: the server at ${server.origin} holds the store; to write through its admin API, set BILLING_ADMIN_SECRET to the server's\n`,
    });
  });

  it('says the server refused the token when the secrets differ', async () => {
    const wrong = { ...remote(), BILLING_ADMIN_SECRET: 'not-the-servers-secret-not-the-servers' };
    expect(await run(wrong, 'tenant', 'show', 'org-remote')).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: the server at ${server.origin} refused the admin token: is BILLING_ADMIN_SECRET the server's?\n`,
    });
  });

  it('says the server has no admin API when it was started without one', async () => {
    const env = { ...remote(), BILLING_URL: `${withoutAdmin.origin}/` };
    expect(await run(env, 'plan', 'list')).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: the server at ${withoutAdmin.origin}/ has no admin API: start it with BILLING_ADMIN_SECRET set\n`,
    });
  });

  it('says it cannot reach a server nobody listens for, and why', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const url = `http://127.0.0.1:${closedPort}`;
    const unreachable = await run({ ...remote(), BILLING_URL: url }, 'plan', 'list');
    expect(unreachable.code).toBe(1);
    expect(unreachable.stdout).toBe('');
    expect(unreachable.stderr).toMatch(
      new RegExp(`^error: cannot reach the server at ${url.replaceAll('.', '\\.')}: .*ECONNREFUSED.*\\n$`),
    );
  });
});
