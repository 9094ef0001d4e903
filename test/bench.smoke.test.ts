import { randomBytes } from 'node:crypto';
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
});
