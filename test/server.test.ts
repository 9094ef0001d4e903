import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type ServerType, serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createBillingClient } from '../packages/client/src/index.js';
import { signWorkerToken } from '../src/auth/worker-token.js';
import { useHarness, WORKER_SECRET } from './support/harness.js';
import { freshPgliteDir, runServerToExit, spawnServer } from './support/spawn-server.js';

describe('npm start on a fresh machine (no configuration)', () => {
  it('prints a generated secret and a curl line that answers with the limits', async () => {
    const server = await spawnServer({ NODE_ENV: 'development' });
    try {
      const output = server.output();
      expect(output).toMatch(/BILLING_JWT_SECRET=\S{32,}/);
      const curl = output.match(/curl -s (\S+) -H '([^']+)' -H '([^']+)' -H '([^']+)'/);
      expect(curl).not.toBeNull();
      const [, url = '', ...headerLines] = curl ?? [];
      const headers = Object.fromEntries(
        headerLines.map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
      );
      const res = await fetch(url, { headers });
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(
        '{"tenant_id":"org-456","limits":{"deployments":5,"self_hosted_workers":null,"plan_type":"growth"}}',
      );
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('keeps its development secrets beside the embedded store: tokens survive a restart', async () => {
    const dataDir = freshPgliteDir();
    const secretOf = (output: string) => /BILLING_JWT_SECRET=(\S+)/.exec(output)?.[1];
    const first = await spawnServer({ BILLING_DATA_DIR: dataDir }, undefined, 60_000);
    const firstSecret = secretOf(first.output());
    expect(first.output()).toContain(
      `using the development secret in ${dataDir}.dev-secrets.json (created now)`,
    );
    expect(await first.stop()).toBe(0);
    expect(statSync(`${dataDir}.dev-secrets.json`).mode & 0o777).toBe(0o600);
    const second = await spawnServer({ BILLING_DATA_DIR: dataDir }, undefined, 60_000);
    try {
      expect(second.output()).toContain(`(kept from an earlier run)`);
      expect(secretOf(second.output())).toBe(firstSecret);
      const origin = /listening on (\S+)/.exec(second.output())?.[1];
      const token = await signWorkerToken(firstSecret ?? '');
      const res = await fetch(`${origin}/billing/limits`, {
        headers: { 'tenant-id': 'org-123', authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(200);
    } finally {
      await second.stop();
    }
  }, 120_000);

  it('uses BILLING_JWT_SECRET when given and prints no token', async () => {
    const secret = WORKER_SECRET;
    const server = await spawnServer({ BILLING_JWT_SECRET: secret });
    try {
      expect(server.output()).not.toContain('BILLING_JWT_SECRET=');
      const origin = server.output().match(/listening on (\S+)/)?.[1];
      const res = await fetch(`${origin}/billing/limits`, {
        headers: { 'tenant-id': 'org-123', authorization: `Bearer ${await signWorkerToken(secret)}` },
      });
      expect(res.status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});

describe('start-up refusals', () => {
  it.each([
    [{ NODE_ENV: 'production' }, 'Invalid configuration: BILLING_JWT_SECRET is required in production'],
    [
      { NODE_ENV: 'production', BILLING_JWT_SECRET: 'x'.repeat(40), BILLING_DISABLE_AUTH: 'true' },
      'Invalid configuration: BILLING_DISABLE_AUTH must not be set in production',
    ],
    [{ PORT: 'eighty' }, 'Invalid configuration: PORT'],
    [
      { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test' },
      'cannot open PostgreSQL at 127.0.0.1:1/test: ECONNREFUSED (check DATABASE_URL, or unset it for the embedded store)',
    ],
  ])('%o stops start-up with one clear line', async (env, line) => {
    const { code, stderr } = await runServerToExit(env);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(line);
  });
});

describe('start-up refusals naming what holds them', () => {
  it('a port in use: one line naming PORT, exit 1', async () => {
    const holder = createServer().listen(0, '127.0.0.1');
    await once(holder, 'listening');
    const { port } = holder.address() as AddressInfo;
    try {
      const { code, stderr } = await runServerToExit({ PORT: String(port) });
      expect(code).toBe(1);
      expect(stderr).toBe(
        `cannot listen on 127.0.0.1:${port}: the port is in use (set PORT to another port, or stop what holds it)\n`,
      );
    } finally {
      holder.close();
    }
  });
});

describe('npm start', () => {
  it('is one process: SIGTERM to the pid it reports drains and stops the server', async () => {
    const npm = spawn('npm', ['start', '--silent'], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { PATH: process.env['PATH'] ?? '', PORT: '0', BILLING_DATA_DIR: freshPgliteDir() },
    });
    let stdout = '';
    npm.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
    await vi.waitFor(() => expect(stdout).toContain('API reference'), { timeout: 30_000, interval: 100 });
    const [, origin = '', pid = ''] = /listening on (\S+) \(pid (\d+);/.exec(stdout) ?? [];
    expect((await fetch(`${origin}/healthz`)).status).toBe(200);
    npm.kill('SIGTERM'); // the pid a shell's `$!` or a process manager holds: npm's
    await exited;
    await vi.waitFor(() => expect(() => process.kill(Number(pid), 0)).toThrow(), { timeout: 10_000 });
    expect(stdout).toContain('"msg":"stopped"');
  }, 60_000);
});

describe('over a real socket', () => {
  const h = useHarness();
  // The service's own signer here, as a TypeScript caller of the client would mint its token.
  const secret = WORKER_SECRET;
  let server: ServerType;
  let origin = '';

  beforeAll(async () => {
    const { app } = h;
    server = await new Promise<ServerType>((resolve) => {
      const listening = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(listening));
    });
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('answers the typed client with the same limits as REST', async () => {
    const token = await signWorkerToken(secret);
    const client = createBillingClient({ url: origin, token });
    const viaClient = await client.billing.limits.query({ tenantId: 'org-789', planType: 'enterprise' });
    const viaRest = await fetch(`${origin}/billing/limits`, {
      headers: { 'tenant-id': 'org-789', 'x-plan-type': 'enterprise', authorization: `Bearer ${token}` },
    });
    expect(viaClient).toEqual({
      tenant_id: 'org-789',
      limits: { deployments: null, self_hosted_workers: null, plan_type: 'enterprise' },
    });
    expect(await viaRest.json()).toEqual(viaClient);
  });

  it('defaults the plan to free through the client too', async () => {
    const client = createBillingClient({ url: `${origin}/`, token: () => signWorkerToken(secret) });
    expect(await client.billing.limits.query({ tenantId: 'org-123' })).toEqual({
      tenant_id: 'org-123',
      limits: { deployments: 1, self_hosted_workers: 5, plan_type: 'free' },
    });
  });

  it('surfaces the 401 detail to client callers', async () => {
    const client = createBillingClient({ url: origin, token: 'not-a-token' });
    await expect(client.billing.limits.query({ tenantId: 'org-123' })).rejects.toMatchObject({
      data: { httpStatus: 401, detail: 'Invalid token. Error: Not enough segments' },
    });
  });

  it('answers REST 401 and 422 over HTTP with the FastAPI bodies', async () => {
    const unauthorized = await fetch(`${origin}/billing/limits`);
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('www-authenticate')).toBe('Bearer');
    expect(await unauthorized.text()).toBe('{"detail":"Missing authorization header"}');
    const invalid = await fetch(`${origin}/billing/limits`, {
      headers: { authorization: `Bearer ${await signWorkerToken(secret)}`, 'x-plan-type': 'pro' },
    });
    expect(invalid.status).toBe(422);
    const body = (await invalid.json()) as { detail: { loc: string[] }[] };
    expect(body.detail.map((entry) => entry.loc[1])).toEqual(['tenant-id', 'x-plan-type']);
  });
});

describe('leases on a running server', () => {
  it('releases an unrenewed lease once it ends (BILLING_LEASE_SWEEP_MS), and logs the expiry', async () => {
    const server = await spawnServer({ BILLING_JWT_SECRET: WORKER_SECRET, BILLING_LEASE_SWEEP_MS: '200' });
    try {
      const [, origin = ''] = /listening on (\S+) /.exec(server.output()) ?? [];
      const token = await signWorkerToken(WORKER_SECRET, { ttlSeconds: 600 });
      const headers = {
        authorization: `Bearer ${token}`,
        'tenant-id': 'org-789',
        'content-type': 'application/json',
      };
      const used = async () => {
        const res = await fetch(`${origin}/billing/usage`, { headers });
        return ((await res.json()) as { usage: { self_hosted_workers: { used: number } } }).usage
          .self_hosted_workers.used;
      };
      const granted = await fetch(`${origin}/billing/reservations`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          resource: 'self_hosted_workers',
          quantity: 3,
          idempotency_key: 'lease',
          lease_seconds: 10,
        }),
      });
      expect(granted.status).toBe(201);
      const { reservation_id, expires_at } = (await granted.json()) as {
        reservation_id: string;
        expires_at: string;
      };
      expect(await used()).toBe(3);
      // Held until its end…
      await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(Date.parse(expires_at) - 2_000), {
        timeout: 15_000,
        interval: 250,
      });
      expect(await used()).toBe(3);
      // …and released within the promised 5 s of it.
      await vi.waitFor(async () => expect(await used()).toBe(0), { timeout: 20_000, interval: 200 });
      // Logs are buffered on their way to stdout: the line follows.
      const expiry = await vi.waitFor(
        () => {
          const line = server
            .output()
            .split('\n')
            .find((candidate) => candidate.includes('"msg":"reservation lease expired"'));
          if (!line) throw new Error(`no expiry logged:\n${server.output()}`);
          return line;
        },
        { timeout: 10_000, interval: 200 },
      );
      expect(JSON.parse(expiry)).toMatchObject({
        level: 'info',
        tenant_id: 'org-789',
        resource: 'self_hosted_workers',
        quantity: 3,
        reservation_id,
      });
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 60_000);
});
