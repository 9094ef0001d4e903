/** The service's replicas: `node --import tsx src/server.ts` each, as `npm start` runs it. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const READY_TIMEOUT_MS = 60_000;
const KEPT_STDERR_LINES = 20;

export interface ReplicaExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when it ended before it was told to. */
  unexpected: boolean;
}

export interface Replica {
  name: string;
  origin: string;
  pid: number;
  /** `ps` on the pid: `<comm> <args>`. */
  processLine: string;
  /** The pid is the node process running the server itself, not a wrapper (npm, a shell, tsx's CLI). */
  isServerProcess: boolean;
  stderr: { lines: number; first: string[] };
  exit: ReplicaExit | undefined;
  /** Settles when the process ends, however it ends. */
  exited: Promise<ReplicaExit>;
  stop(timeoutMs?: number): Promise<ReplicaExit>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** However this process ends, no replica outlives it. */
function killReplicasOnExit() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

export function killAllReplicasNow(): void {
  for (const child of live) child.kill('SIGKILL');
}

export async function startReplica(name: string, env: Record<string, string>, signal: AbortSignal) {
  killReplicasOnExit();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let stdout = '';
  let partialLine = '';
  const stderr = { lines: 0, first: [] as string[] };
  child.stdout?.on('data', (chunk: Buffer) => {
    if (stdout.length < 64 * 1024) stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    const text = partialLine + chunk.toString();
    const lines = text.split('\n');
    partialLine = lines.pop() ?? '';
    for (const line of lines) {
      stderr.lines += 1;
      if (stderr.first.length < KEPT_STDERR_LINES) stderr.first.push(line);
    }
  });

  let stopping = false;
  let exit: ReplicaExit | undefined;
  const exited = new Promise<ReplicaExit>((resolve) => {
    child.once('exit', (code, exitSignal) => {
      live.delete(child);
      exit = { code, signal: exitSignal, unexpected: !stopping };
      resolve(exit);
    });
  });

  const origin = await new Promise<string>((resolve, reject) => {
    let settled = false;
    const fail = (reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      child.kill('SIGKILL');
      reject(new Error(`${name} ${reason}:\n${stdout}${stderr.first.join('\n')}`));
    };
    const onAbort = () => fail('start-up interrupted');
    const timer = setTimeout(() => fail(`not ready in ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    signal.addEventListener('abort', onAbort, { once: true });
    const check = () => {
      const listening = /listening on (http:\/\/\S+)/.exec(stdout);
      if (!settled && listening?.[1] && stdout.includes('API reference: ')) {
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        child.stdout?.off('data', check);
        resolve(listening[1]);
      }
    };
    child.stdout?.on('data', check);
    void exited.then((e) => fail(`exited with ${e.code ?? e.signal} during start-up`));
  });

  const pid = child.pid ?? -1;
  const processLine = describeProcess(pid);
  const replica: Replica = {
    name,
    origin,
    pid,
    processLine,
    isServerProcess: /^node\s.*--import tsx src\/server\.ts$/.test(processLine),
    stderr,
    get exit() {
      return exit;
    },
    exited,
    async stop(timeoutMs = 20_000) {
      if (exit) return exit;
      stopping = true;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
  return replica;
}

/** `ps` line for a pid: its command name and arguments. */
function describeProcess(pid: number): string {
  try {
    const line = execFileSync('ps', ['-o', 'comm=,args=', '-p', String(pid)], { encoding: 'utf8' });
    return line.trim().replace(/\s+/g, ' ');
  } catch {
    return 'not found by ps';
  }
}

/** The process's resident set (VmRSS) in KiB, or undefined once it is gone. */
export function rssKib(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}
