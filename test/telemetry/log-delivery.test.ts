import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LOG_FLUSH_INTERVAL_MS } from '../../src/telemetry/logger.js';
import { eventually } from '../support/eventually.js';
import { type RunningServer, spawnServer } from '../support/spawn-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

const children: ChildProcess[] = [];
const servers: RunningServer[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});

/** Runs test/support/log-then.ts (killed after the test); `stdout` is what it printed so far. */
function logThen(how: 'idle' | 'crash' | 'exit') {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/log-then.ts', how], { cwd: root });
  children.push(child);
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  // 'close', not 'exit': by then everything the process printed has been read.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { exited, stdout: () => stdout, child };
}

describe('log lines reach standard output', () => {
  it(`by the ${LOG_FLUSH_INTERVAL_MS} ms flush on a quiet process, not when 4 KiB have gathered`, async () => {
    // The process idles until killed, so only the timed flush can show the line: a generous
    // deadline for tsx's start-up on loaded cores, not a measure of the interval.
    const run = logThen('idle');
    await eventually(() => run.stdout().includes('\n'), 20_000).catch(() =>
      expect.fail(`no line shown while the process idles; printed: ${JSON.stringify(run.stdout())}`),
    );
    expect(run.child.exitCode).toBeNull();
    expect(JSON.parse(run.stdout().split('\n')[0] ?? '')).toMatchObject({ msg: 'a line written before' });
  }, 30_000);

  it('on process.exit and on a crash', async () => {
    for (const how of ['exit', 'crash'] as const) {
      const run = logThen(how);
      const code = await run.exited;
      expect(code).toBe(how === 'exit' ? 3 : 1);
      expect(run.stdout()).toContain('"msg":"a line written before"');
    }
  }, 30_000);

  // Four lines are far below the 4 KiB the buffer would wait for: without the timed flush none of
  // them would ever show on a quiet server. So waiting for each with a generous deadline — not the
  // flush interval (LOG_FLUSH_INTERVAL_MS), which two loaded cores can't keep to — still tells the two apart.
  it("from a running server: each request's line, without waiting for 4 KiB to gather", async () => {
    const server = await spawnServer({});
    servers.push(server);
    const origin = /listening on (http:\/\/\S+)/.exec(server.output())?.[1] ?? '';
    for (let request = 1; request <= 4; request++) {
      const before = server.output().length;
      expect((await fetch(`${origin}/billing/limits`, { headers: { 'tenant-id': 'org-456' } })).status).toBe(
        401,
      );
      await eventually(
        () => server.output().slice(before).includes('"path":"/billing/limits"'),
        10_000,
      ).catch(() =>
        expect.fail(`request ${request}'s log line never showed: ${server.output().slice(before)}`),
      );
    }
  }, 60_000);
});
