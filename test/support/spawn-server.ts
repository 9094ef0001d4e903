import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * A server starts in about 5 s on 2 idle cores; this is how long a test waits before giving up —
 * generous, because the suite runs test files in parallel and a start-up competes with them.
 */
const START_TIMEOUT_MS = 30_000;

/**
 * A PGlite data directory of its own, already migrated (a copy of the one global-setup made), in
 * a fresh temporary directory (with room beside it for the lock and owner files).
 */
export function freshPgliteDir(parent = mkdtempSync(join(tmpdir(), 'billing-data-'))): string {
  const dataDir = join(parent, 'pglite');
  cpSync(inject('pgliteDirTemplate'), dataDir, { recursive: true });
  return dataDir;
}

/**
 * Starts `src/server.ts` as `npm start` does. Each server gets an embedded database of its own
 * unless the test names one; that database is removed when the process ends.
 */
function spawnServerProcess(env: Record<string, string>): ChildProcessWithoutNullStreams {
  const ownDataDir = env['BILLING_DATA_DIR'] ? undefined : freshPgliteDir();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      ...(ownDataDir ? { BILLING_DATA_DIR: ownDataDir } : {}),
      ...env,
    },
  });
  if (ownDataDir) child.once('exit', () => rmSync(dirname(ownDataDir), { recursive: true, force: true }));
  return child;
}

export interface RunningServer {
  process: ChildProcessWithoutNullStreams;
  /** Everything the server printed on stdout so far. */
  output(): string;
  stop(): Promise<number | null>;
}

/** Starts `src/server.ts` as `npm start` does, in its own process; resolves once `ready` matches its output. */
export async function spawnServer(
  env: Record<string, string>,
  ready: RegExp = /API reference: /,
  timeoutMs = START_TIMEOUT_MS,
): Promise<RunningServer> {
  const child = spawnServerProcess(env);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const stop = () =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
      child.once('exit', (code) => resolve(code));
      child.kill('SIGTERM');
    });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // not left running after the test gave up on it
      reject(new Error(`server not ready in ${timeoutMs} ms:\n${stdout}${stderr}`));
    }, timeoutMs);
    const check = () => {
      if (ready.test(stdout)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${stdout}${stderr}`));
    });
  });
  return { process: child, output: () => stdout, stop };
}

/** Runs `src/server.ts` expecting it to refuse to start; resolves with its exit code and stderr. */
export function runServerToExit(env: Record<string, string>, timeoutMs = START_TIMEOUT_MS) {
  return new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawnServerProcess(env);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('server kept running although it should have refused to start'));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}
