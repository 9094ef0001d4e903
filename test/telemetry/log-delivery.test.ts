import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LOG_FLUSH_INTERVAL_MS } from '../../src/telemetry/logger.js';
import { type RunningServer, spawnServer } from '../support/spawn-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs test/support/log-then.ts; resolves when `line` shows on its stdout (with how long it took) or it exits. */
function logThen(how: 'idle' | 'crash' | 'exit') {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/log-then.ts', how], { cwd: root });
  let stdout = '';
  const firstLine = new Promise<number>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('\n')) resolve(Date.now());
    });
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { started, firstLine, exited, stdout: () => stdout, child };
}

const servers: RunningServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});

describe('log lines reach standard output', () => {
  it(`within ${LOG_FLUSH_INTERVAL_MS} ms on a quiet process, not when 4 KiB have gathered`, async () => {
    const run = logThen('idle');
    const shownAt = await Promise.race([run.firstLine, run.exited.then(() => Number.POSITIVE_INFINITY)]);
    // Start-up (tsx) is most of it; the line itself waits at most one flush interval.
    expect(JSON.parse(run.stdout().split('\n')[0] ?? '')).toMatchObject({ msg: 'a line written before' });
    expect(shownAt).toBeLessThan(Number.POSITIVE_INFINITY);
    run.child.kill('SIGKILL');
  }, 30_000);

  it('on process.exit and on a crash', async () => {
    for (const how of ['exit', 'crash'] as const) {
      const run = logThen(how);
      const code = await run.exited;
      expect(code).toBe(how === 'exit' ? 3 : 1);
      expect(run.stdout()).toContain('"msg":"a line written before"');
    }
  }, 30_000);

  it("from a running server: each request's line within a second", async () => {
    const server = await spawnServer({});
    servers.push(server);
    const origin = /listening on (http:\/\/\S+)/.exec(server.output())?.[1] ?? '';
    for (let request = 1; request <= 4; request++) {
      const before = server.output().length;
      const sentAt = Date.now();
      expect((await fetch(`${origin}/billing/limits`, { headers: { 'tenant-id': 'org-456' } })).status).toBe(
        401,
      );
      while (!server.output().slice(before).includes('"path":"/billing/limits"')) {
        expect(Date.now() - sentAt, `request ${request}'s log line`).toBeLessThan(1_000);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }, 60_000);
});
