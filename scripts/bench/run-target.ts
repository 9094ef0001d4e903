/**
 * One target, start to finish: serve it in a child process, check its answer, warm it up, load it,
 * read the child's CPU time, stop it. The load generator stays in this process.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type LoadResult, runLoad } from './measure.js';
import type { BenchRequest, Target } from './targets.js';

export interface BenchSettings {
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  pipelining: number;
}

export interface BenchRun {
  /** The worker-token secret every child verifies with. */
  secret: string;
  /** One valid worker token, reused for every request. */
  token: string;
  databaseUrl?: string | undefined;
}

export interface TargetResult extends LoadResult {
  target: string;
  description: string;
  /** Server CPU per request, in microseconds: steadier than req/s when the load generator shares the cores. */
  cpuMicrosPerRequest: number;
  storeReads: number;
}

/** The target answered, but not with the right answer: it is reported as failed, never measured. */
export class WrongAnswerError extends Error {}

// Generous because some targets migrate a database and seed 10,000 tenants before they listen.
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;
const CHECK_TIMEOUT_MS = 5_000;
const USAGE_TIMEOUT_MS = 5_000;

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Whatever way this process ends, the children it forked end with it. */
function killChildrenOnExit() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port to listen on')),
      );
    });
  });
}

function startChild(target: Target, port: number, run: BenchRun): Promise<ChildProcess> {
  killChildrenOnExit();
  const entry = fileURLToPath(new URL('./serve-target.ts', import.meta.url));
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production', BILLING_JWT_SECRET: run.secret };
  if (run.databaseUrl) env['DATABASE_URL'] = run.databaseUrl;
  else delete env['DATABASE_URL'];
  const child = fork(entry, [target.name, String(port)], {
    execArgv: ['--import', 'tsx'],
    env,
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  // Sending to a child that died emits 'error' on it; the failure surfaces through the exit instead.
  child.on('error', () => {});
  return new Promise((resolve, reject) => {
    let output = '';
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new Error(`${target.name}: not ready within ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.split('\n').some((line) => line.trim() === `ready ${port}`)) {
        clearTimeout(timer);
        // Whatever the child prints later is read and dropped, so a full pipe never stalls it.
        child.stdout?.removeAllListeners('data');
        child.stdout?.resume();
        resolve(child);
      }
    });
    child.once('exit', (code, signal) =>
      fail(new Error(`${target.name}: exited (${signal ?? code}) before it was ready`)),
    );
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function childUsage(
  child: ChildProcess,
  targetName: string,
): Promise<{ cpuMicros: number; storeReads: number }> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: unknown) => {
      clearTimeout(timer);
      resolve(reply as { cpuMicros: number; storeReads: number });
    };
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`${targetName}: did not report its CPU time (did it exit under load?)`));
    }, USAGE_TIMEOUT_MS);
    child.once('message', onMessage);
    child.send('usage');
  });
}

async function checkAnswer(target: Target, url: string, request: BenchRequest, when: string) {
  const response = await fetch(`${url}${request.path}`, {
    method: request.method ?? 'GET',
    headers: request.headers,
    ...(request.body === undefined ? {} : { body: request.body }),
    signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
  });
  const body = await response.text();
  if (response.status < 200 || response.status > 299 || !target.isCorrectBody(body)) {
    throw new WrongAnswerError(`${target.name} answered ${response.status} ${when}: ${body.slice(0, 300)}`);
  }
}

export async function benchTarget(
  target: Target,
  settings: BenchSettings,
  run: BenchRun,
): Promise<TargetResult> {
  const port = await freePort();
  const child = await startChild(target, port, run);
  try {
    const url = `http://127.0.0.1:${port}`;
    const request = target.request(run.token);
    const load = {
      url,
      request,
      isCorrectBody: target.isCorrectBody,
      connections: settings.connections,
      pipelining: settings.pipelining,
    };
    // Before the warm-up so a broken target costs no load; after it so a target that breaks under load is caught.
    await checkAnswer(target, url, request, 'before the warm-up');
    if (settings.warmupSeconds > 0) {
      await runLoad({ ...load, durationSeconds: settings.warmupSeconds });
      await checkAnswer(target, url, request, 'after the warm-up');
    }
    child.send('reset');
    const result = await runLoad({ ...load, durationSeconds: settings.durationSeconds });
    const usage = await childUsage(child, target.name);
    return {
      target: target.name,
      description: target.description,
      ...result,
      cpuMicrosPerRequest: result.requests > 0 ? usage.cpuMicros / result.requests : 0,
      storeReads: usage.storeReads,
    };
  } finally {
    await stopChild(child);
  }
}
