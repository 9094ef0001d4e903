import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Each spawned server gets an embedded database of its own unless the test names one. */
function serverEnv(env: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '',
    HOST: '127.0.0.1',
    PORT: '0',
    BILLING_DATA_DIR: join(mkdtempSync(join(tmpdir(), 'billing-server-')), 'pglite'),
    ...env,
  };
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
  timeoutMs = 15_000,
): Promise<RunningServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: serverEnv(env),
  });
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
      if (child.exitCode !== null) return resolve(child.exitCode);
      child.once('exit', (code) => resolve(code));
      child.kill('SIGTERM');
    });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server not ready in ${timeoutMs} ms:\n${stdout}${stderr}`)),
      timeoutMs,
    );
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
export function runServerToExit(env: Record<string, string>, timeoutMs = 15_000) {
  return new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: root,
      env: serverEnv(env),
    });
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
