import { type AddressInfo, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { readDataDirOwner } from '../../src/db/data-dir-lock.js';
import { admin, freshDataDir, run, startServer } from '../support/admin-cli.js';
import { ADMIN_SECRET, WORKER_SECRET } from '../support/harness.js';
import { runServerToExit } from '../support/spawn-server.js';

describe('npm run admin beside a running server on the embedded store', () => {
  it("keeps the CLI's write: it goes through the server, which answers it at once and after a restart", async () => {
    // The README's sequence, as a new user runs it: no secrets set anywhere.
    const env = { BILLING_DATA_DIR: freshDataDir() };
    const { server, origin } = await startServer(env);
    const set = await admin(env, 'tenant', 'set', 'org-456', '--deployments', '9');
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    expect(set.stdout).toContain('deployments          9          override');

    const token = (await admin(env, 'token', 'worker')).stdout.trim();
    const limitsOf = async (at: string) => {
      const response = await fetch(`${at}/billing/limits`, {
        headers: { 'tenant-id': 'org-456', authorization: `Bearer ${token}` },
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { limits: { deployments: number | null } }).limits;
    };
    expect((await limitsOf(origin)).deployments).toBe(9); // the server heard it at once
    for (const key of ['r1', 'r2', 'r3']) {
      const reserved = await fetch(`${origin}/billing/reservations`, {
        method: 'POST',
        headers: {
          'tenant-id': 'org-456',
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ resource: 'deployments', idempotency_key: key }),
      });
      expect(reserved.status).toBe(201);
    }
    expect(await server.stop()).toBe(0);

    const shown = await run(env, '--json', 'tenant', 'show', 'org-456'); // no server: the store itself
    expect(JSON.parse(shown.stdout)).toMatchObject({ overrides: { deployments: 9 } });
    // No server running: `token worker` signs with the development secret kept beside the store,
    // the one the next server uses.
    const mintedWhileStopped = await run(env, 'token', 'worker');
    expect(mintedWhileStopped.code).toBe(0);
    const restarted = await startServer(env);
    const restartedToken = (await run(env, 'token', 'worker')).stdout.trim();
    const response = await fetch(`${restarted.origin}/billing/limits`, {
      headers: { 'tenant-id': 'org-456', authorization: `Bearer ${restartedToken}` },
    });
    expect(((await response.json()) as { limits: { deployments: number } }).limits.deployments).toBe(9);
    // Tokens minted before the restart, with or without a server, are still good.
    for (const earlier of [token, mintedWhileStopped.stdout.trim()]) {
      const again = await fetch(`${restarted.origin}/billing/limits`, {
        headers: { 'tenant-id': 'org-456', authorization: `Bearer ${earlier}` },
      });
      expect(again.status).toBe(200);
    }
  }, 180_000);

  it('prints the same output through the server as on the store itself, errors included', async () => {
    const direct = { BILLING_DATA_DIR: freshDataDir() };
    const throughServer = { BILLING_DATA_DIR: freshDataDir() };
    const { server, origin } = await startServer(throughServer);
    const commands = [
      ['plan', 'list'],
      ['plan', 'set', 'free', '--deployments', '3', '--workers', 'unlimited'],
      ['plan', 'set', 'growth', '--soft-deployments', '2', '--orb-plan-id', 'orb-growth-2'],
      ['plan', 'set', 'free', '--orb-plan-id', 'orb-growth-2'],
      ['tenant', 'show', 'org-456'],
      ['tenant', 'set', 'org-456', '--workers', '4', '--deployments', 'unlimited'],
      ['--json', 'tenant', 'set', 'org-new', '--plan', 'free', '--customer', 'cus_new', '--deployments', '2'],
      ['--json', 'tenant', 'clear-overrides', 'org-456'],
      ['tenant', 'show', 'org-nobody'],
      ['tenant', 'set', 'org-nobody', '--workers', '1'],
    ];
    for (const command of commands) {
      const [alone, beside] = [await run(direct, ...command), await run(throughServer, ...command)];
      expect(beside, command.join(' ')).toEqual(alone);
    }
    // …and the commands went through the server, which held the store the whole time.
    expect(readDataDirOwner(throughServer.BILLING_DATA_DIR)?.pid).toBe(server.process.pid);
    const metrics = await (await fetch(`${origin}/metrics`)).text();
    const trpcCalls = [
      ...metrics.matchAll(/^http_server_request_duration_count\{[^}]*http_route="\/trpc\/\*"\} (\d+)$/gm),
    ]
      .map(([, count]) => Number(count))
      .reduce((sum, count) => sum + count, 0);
    expect(trpcCalls).toBeGreaterThanOrEqual(commands.length);
  }, 180_000);

  it('refuses, writing nothing, when the server has no admin API it can use', async () => {
    const env = {
      BILLING_DATA_DIR: freshDataDir(),
      BILLING_JWT_SECRET: WORKER_SECRET,
      NODE_ENV: 'production',
    };
    const { origin } = await startServer(env);
    const refused = await run(env, 'tenant', 'set', 'org-456', '--deployments', '9');
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toBe(
      `error: the server at ${origin} holds the store; to write through its admin API, set BILLING_ADMIN_SECRET to the server's\n`,
    );
    const wrongSecret = await run(
      { ...env, BILLING_ADMIN_SECRET: ADMIN_SECRET },
      'tenant',
      'show',
      'org-456',
    );
    expect(wrongSecret.stderr).toBe(
      `error: the server at ${origin} has no admin API: start it with BILLING_ADMIN_SECRET set\n`,
    );
  }, 120_000);

  it('writes through the server BILLING_URL names, with the admin secret it is given', async () => {
    const serverEnv = { BILLING_DATA_DIR: freshDataDir(), BILLING_ADMIN_SECRET: ADMIN_SECRET };
    const { origin } = await startServer(serverEnv);
    const elsewhere = { BILLING_DATA_DIR: freshDataDir(), BILLING_URL: origin };
    const set = await run(
      { ...elsewhere, BILLING_ADMIN_SECRET: ADMIN_SECRET },
      '--json',
      'tenant',
      'set',
      'org-123',
      '--workers',
      '7',
    );
    expect(JSON.parse(set.stdout).limits.self_hosted_workers).toBe(7);
    const shown = await run(serverEnv, '--json', 'tenant', 'show', 'org-123');
    expect(JSON.parse(shown.stdout).limits.self_hosted_workers).toBe(7);
    const wrongSecret = await run(
      { ...elsewhere, BILLING_ADMIN_SECRET: 'not-the-servers-secret-not-the-servers' },
      'plan',
      'list',
    );
    expect(wrongSecret.stderr).toBe(
      `error: the server at ${origin} refused the admin token: is BILLING_ADMIN_SECRET the server's?\n`,
    );
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const nobodyThere = await run(
      { ...elsewhere, BILLING_URL: `http://127.0.0.1:${closedPort}`, BILLING_ADMIN_SECRET: ADMIN_SECRET },
      'plan',
      'list',
    );
    expect(nobodyThere.code).toBe(1);
    expect(nobodyThere.stderr).toMatch(
      new RegExp(`^error: cannot reach the server at http://127\\.0\\.0\\.1:${closedPort}: .*ECONNREFUSED`),
    );
  }, 120_000);
});

describe('one server per embedded store', () => {
  it('refuses a second server on the same data directory, naming the first, with exit code 1', async () => {
    const env = { BILLING_DATA_DIR: freshDataDir() };
    const { server, origin } = await startServer(env);
    const second = await runServerToExit(env, 60_000);
    expect(second.code).toBe(1);
    expect(second.stderr.trim()).toBe(
      `the embedded store at ${env.BILLING_DATA_DIR} is in use by the server (pid ${server.process.pid}, ${origin})`,
    );
  }, 120_000);

  it('starts on the store of a server that was killed, once its lock goes stale, with its data', async () => {
    const env = { BILLING_DATA_DIR: freshDataDir(), BILLING_ADMIN_SECRET: ADMIN_SECRET };
    const { server } = await startServer(env);
    expect((await run(env, 'tenant', 'set', 'org-789', '--deployments', '4')).code).toBe(0);
    await new Promise<void>((resolve) => {
      server.process.once('exit', () => resolve());
      server.process.kill('SIGKILL');
    });
    const { server: next } = await startServer(env);
    expect(next.output()).toMatch(/listening on/);
    const shown = await run(env, '--json', 'tenant', 'show', 'org-789');
    expect(JSON.parse(shown.stdout).overrides).toEqual({ deployments: 4 });
  }, 120_000);
});
