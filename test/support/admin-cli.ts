/** Running the admin CLI in tests: in this process (fast) or as its own process (exit codes), beside spawned servers. */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach } from 'vitest';
import { runAdmin } from '../../src/cli/admin-cli.js';
import { freshPgliteDir, type RunningServer, spawnServer } from './spawn-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const scratch = mkdtempSync(join(tmpdir(), 'billing-cli-'));
let dirs = 0;
/** A migrated embedded store of its own (removed after the file's tests). */
export function freshDataDir(): string {
  const parent = join(scratch, `d${++dirs}`);
  mkdirSync(parent);
  return freshPgliteDir(parent);
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command line in this process, as `npm run admin -- …` does, with this environment. */
export async function run(env: Record<string, string>, ...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runAdmin(args, {
    env,
    out: (text) => {
      stdout += text;
    },
    err: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr };
}

/** Runs `npm run admin -- …` as an operator would: its own process, its exit code. */
export function admin(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/admin.ts', ...args],
      { cwd: root, timeout: 60_000, env: { PATH: process.env['PATH'] ?? '', ...env } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Servers started by a test are stopped after it. */
const servers: RunningServer[] = [];
export async function startServer(
  env: Record<string, string>,
): Promise<{ server: RunningServer; origin: string }> {
  const server = await spawnServer(env, /API reference: /, 60_000);
  servers.push(server);
  const origin = /listening on (http:\/\/\S+)/.exec(server.output())?.[1] ?? '';
  return { server, origin };
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
