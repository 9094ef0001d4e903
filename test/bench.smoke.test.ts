import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { benchTarget } from '../scripts/bench/run-target.js';
import { TARGETS } from '../scripts/bench/targets.js';
import { signWorkerToken } from '../src/auth/worker-token.js';

describe('bench harness', () => {
  it('serves the hono target in a child process, checks its answer and loads it', async () => {
    const hono = TARGETS.find((target) => target.name === 'hono');
    if (!hono) throw new Error('the registry has no hono target');
    const secret = randomBytes(36).toString('base64url');
    const result = await benchTarget(
      hono,
      { durationSeconds: 1, warmupSeconds: 0, connections: 4, pipelining: 1 },
      { secret, token: await signWorkerToken(secret) },
    );
    expect(result.target).toBe('hono');
    expect(result.requestsPerSecond).toBeGreaterThan(0);
    expect(result.errors).toBe(0);
    expect(result.p99Ms).toBeGreaterThan(0);
    expect(result.cpuMicrosPerRequest).toBeGreaterThan(0);
  }, 15_000);

  it('loads the service on PGlite (a cached limits check), every answer checked', async () => {
    const service = TARGETS.find((target) => target.name === 'database-pglite');
    if (!service) throw new Error('the registry has no database-pglite target');
    const secret = randomBytes(36).toString('base64url');
    const result = await benchTarget(
      service,
      { durationSeconds: 1, warmupSeconds: 0, connections: 4, pipelining: 1 },
      { secret, token: await signWorkerToken(secret) },
    );
    // An answer that is not the tenant's limits counts as an error: none, and work was done.
    expect(result.errors).toBe(0);
    expect(result.requests).toBeGreaterThan(0);
    expect(result.requestsPerSecond).toBeGreaterThan(0);
  }, 60_000);

  it('loads the PGlite lease target: grant with a lease, renew, release, every answer right', async () => {
    const leases = TARGETS.find((target) => target.name === 'leases-pglite');
    if (!leases) throw new Error('the registry has no leases-pglite target');
    const secret = randomBytes(36).toString('base64url');
    const token = await signWorkerToken(secret);
    const steps = leases.request(token).sequence?.map(({ method }) => method);
    expect(steps).toEqual(['POST', 'POST', 'DELETE']);
    expect(leases.cycle).toHaveLength(3);
    const result = await benchTarget(
      leases,
      { durationSeconds: 1, warmupSeconds: 0, connections: 4, pipelining: 1 },
      { secret, token },
    );
    // A renewal answered 404/409/422 is a non-2xx, a grant without `expires_at` a mismatch: errors.
    expect(result.errors).toBe(0);
    expect(result.requests).toBeGreaterThanOrEqual(3);
  }, 60_000);
});

const postgresUrl = process.env['TEST_DATABASE_URL'];

/** `npm run bench -- …` (or another bench script) in a process of its own. */
function bench(args: string[], script = 'scripts/bench.ts') {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { PATH: process.env['PATH'] ?? '', TEST_DATABASE_URL: postgresUrl ?? '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.runIf(postgresUrl)('npm run bench:propagation', () => {
  it('measures every write reaching the other replica, a webhook receiver and a change stream, and drops its database', async () => {
    const run = await bench(['--writes', '5', '--warmup', '1', '--json'], 'scripts/bench/propagation.ts');
    expect(run.code, run.stderr).toBe(0);
    const { result } = JSON.parse(run.stdout) as {
      result: {
        writes: number;
        lost: number;
        p50Ms: number;
        webhook: { lost: number; p50Ms: number };
        stream: { lost: number; p50Ms: number };
      };
    };
    expect(result).toMatchObject({ writes: 5, lost: 0, webhook: { lost: 0 }, stream: { lost: 0 } });
    expect(result.p50Ms).toBeGreaterThan(0);
    expect(result.webhook.p50Ms).toBeGreaterThan(0);
    expect(result.stream.p50Ms).toBeGreaterThan(0);
    const server = postgres(postgresUrl ?? '', { max: 1, onnotice: () => {} });
    try {
      const left = await server`select datname from pg_database where datname like 'billing_propagation_%'`;
      expect(left).toEqual([]);
    } finally {
      await server.end();
    }
  }, 60_000);
});

describe.runIf(postgresUrl)('npm run bench on PostgreSQL', () => {
  it('drops its billing_bench database at the end unless --keep is given', async () => {
    const server = postgres(postgresUrl ?? '', { max: 1, onnotice: () => {} });
    const benchDatabaseExists = async () =>
      (await server`select 1 from pg_database where datname = 'billing_bench'`).length === 1;
    try {
      const quick = [
        '--duration',
        '1',
        '--warmup',
        '0',
        '--connections',
        '2',
        '--targets',
        'database-postgres',
      ];
      const kept = await bench([...quick, '--keep']);
      expect(kept.code, kept.stderr).toBe(0);
      expect(kept.stderr).toContain('kept the PostgreSQL database billing_bench (--keep)');
      expect(await benchDatabaseExists()).toBe(true);
      const dropped = await bench(quick);
      expect(dropped.code, dropped.stderr).toBe(0);
      expect(await benchDatabaseExists()).toBe(false);
    } finally {
      await server.end();
    }
  }, 120_000);
});
