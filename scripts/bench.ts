/**
 * `npm run bench [-- options]`: the limits endpoint measured against the HTTP stack's own ceiling,
 * in one run, so the ratios mean something on a shared, noisy machine.
 *
 * Each target is served by a child process of its own on 127.0.0.1; this process warms it up,
 * checks its answer once, loads it with autocannon for a fixed time at fixed concurrency, asks
 * the child for its CPU time, and stops it. Options:
 *
 *   --duration <s>      measured seconds per target (10)     --warmup <s>   warm-up seconds (3)
 *   --connections <n>   concurrent connections (64)          --pipelining <n>  (1)
 *   --targets a,b       a subset (default: all that can run here)
 *   --json              JSON instead of the markdown table    --out <file>   also write the table there
 *
 * PostgreSQL targets run when DATABASE_URL or TEST_DATABASE_URL is reachable, in a database the
 * run creates and drops. The exit code is non-zero only when the harness fails or a target
 * answers wrongly; missed targets are reported, not failed.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { signWorkerToken } from '../src/auth/worker-token.js';
import { type LoadResult, runLoad } from './bench/measure.js';
import { TARGETS, type Target } from './bench/targets.js';

interface TargetResult extends LoadResult {
  target: string;
  description: string;
  /** Server CPU per request, in microseconds: steadier than req/s when the load generator shares the cores. */
  cpuMicrosPerRequest: number;
  storeReads: number;
}

const READY_TIMEOUT_MS = 60_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function startChild(target: Target, port: number, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const entry = fileURLToPath(new URL('./bench/serve-target.ts', import.meta.url));
  const child = fork(entry, [target.name, String(port)], {
    execArgv: ['--import', 'tsx'],
    env: { ...env, NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${target.name}: not ready within ${READY_TIMEOUT_MS} ms`));
    }, READY_TIMEOUT_MS);
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${target.name}: exited with ${code} before it was ready`));
    });
  });
}

function ask(
  child: ChildProcess,
  message: 'reset' | 'usage',
): Promise<{ cpuMicros: number; storeReads: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the target did not report its usage')), 5_000);
    if (message === 'reset') {
      child.send(message);
      clearTimeout(timer);
      resolve({ cpuMicros: 0, storeReads: 0 });
      return;
    }
    child.once('message', (reply) => {
      clearTimeout(timer);
      resolve(reply as { cpuMicros: number; storeReads: number });
    });
    child.send(message);
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function postgresForRun(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const base = process.env['DATABASE_URL'] ?? process.env['TEST_DATABASE_URL'];
  if (!base) return undefined;
  const admin = postgres(base, { max: 1, onnotice: () => {}, connect_timeout: 3 });
  const name = 'billing_bench';
  try {
    // Kept between runs on purpose: seeding the cold-cache tenants is the slow part.
    const [exists] = await admin`select 1 from pg_database where datname = ${name}`;
    if (!exists) await admin.unsafe(`create database ${name}`);
  } catch (error) {
    await admin.end();
    console.error(`PostgreSQL at ${new URL(base).host} not reachable: ${(error as Error).message}`);
    return undefined;
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin.end() };
}

async function measure(
  target: Target,
  options: { duration: number; warmup: number; connections: number; pipelining: number },
  env: NodeJS.ProcessEnv,
  token: string,
): Promise<TargetResult> {
  const port = await freePort();
  const child = await startChild(target, port, env);
  try {
    const url = `http://127.0.0.1:${port}`;
    const request = target.request(token);
    const check = await fetch(`${url}${request.path}`, { headers: request.headers });
    const body = await check.text();
    if (check.status !== 200 || (target.expectedBody && body !== target.expectedBody)) {
      throw new Error(`${target.name} answered ${check.status} ${body.slice(0, 200)}`);
    }
    if (options.warmup > 0) await runLoad({ ...options, url, request, durationSeconds: options.warmup });
    await ask(child, 'reset');
    const load = await runLoad({ ...options, url, request, durationSeconds: options.duration });
    const usage = await ask(child, 'usage');
    return {
      target: target.name,
      description: target.description,
      ...load,
      cpuMicrosPerRequest: load.requests > 0 ? usage.cpuMicros / load.requests : 0,
      storeReads: usage.storeReads,
    };
  } finally {
    await stopChild(child);
  }
}

const fixed = (value: number, digits = 2) => value.toFixed(digits);

function report(results: TargetResult[], skipped: string[], settings: string): string {
  const baseline = results.find((r) => TARGETS.find((t) => t.name === r.target)?.baseline);
  const lines = [
    `Billing limits bench — ${new Date().toISOString()} — ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}`,
    settings,
    '',
    '| target | req/s | × hono | p50 ms | p99 ms | p99 × hono | server CPU µs/req | errors | store reads |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const ratio = baseline ? fixed(r.requestsPerSecond / baseline.requestsPerSecond) : '–';
    const p99Ratio = baseline && baseline.p99Ms > 0 ? fixed(r.p99Ms / baseline.p99Ms) : '–';
    lines.push(
      `| ${r.target} | ${Math.round(r.requestsPerSecond)} | ${ratio} | ${r.p50Ms} | ${r.p99Ms} | ${p99Ratio} | ${fixed(r.cpuMicrosPerRequest, 0)} | ${r.errors} | ${r.storeReads} |`,
    );
  }
  if (skipped.length > 0) lines.push('', ...skipped.map((line) => `skipped: ${line}`));
  if (baseline) {
    const ratioOf = (name: string) => {
      const r = results.find((candidate) => candidate.target === name);
      return r ? r.requestsPerSecond / baseline.requestsPerSecond : undefined;
    };
    const goals: [string, string, number][] = [
      ['header', 'header mode ≥ 0.6 × hono req/s', 0.6],
      ['database-pglite', 'database mode, warm cache ≥ 0.5 × hono req/s', 0.5],
      ['trpc', '/trpc ≥ 0.5 × hono req/s', 0.5],
    ];
    lines.push('', 'Targets:');
    for (const [name, label, goal] of goals) {
      const ratio = ratioOf(name);
      if (ratio !== undefined) lines.push(`- ${ratio >= goal ? 'PASS' : 'MISS'} ${label}: ${fixed(ratio)}`);
    }
    for (const r of results.filter((x) => !['node-http', 'hono', 'cold-postgres'].includes(x.target))) {
      const p99 = r.p99Ms / Math.max(baseline.p99Ms, 1);
      lines.push(`- ${p99 <= 2 ? 'PASS' : 'MISS'} ${r.target} p99 ≤ 2 × hono p99: ${fixed(p99)}`);
    }
    const cold = results.find((r) => r.target === 'cold-postgres');
    if (cold) {
      lines.push(
        `- cold cache: ${Math.round(cold.requestsPerSecond)} req/s, ${cold.storeReads} store reads for ${cold.requests} requests`,
      );
    }
  }
  return lines.join('\n');
}

async function main() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      connections: { type: 'string', default: '64' },
      pipelining: { type: 'string', default: '1' },
      targets: { type: 'string' },
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(`usage: npm run bench -- [--duration s] [--warmup s] [--connections n] [--pipelining n]
  [--targets ${TARGETS.map((t) => t.name).join(',')}] [--json] [--out file]`);
    return;
  }
  const options = {
    duration: Number(values.duration),
    warmup: Number(values.warmup),
    connections: Number(values.connections),
    pipelining: Number(values.pipelining),
  };
  for (const [key, value] of Object.entries(options)) {
    if (!Number.isFinite(value) || value < 0) throw new Error(`--${key} must be a non-negative number`);
  }
  const wanted = values.targets?.split(',').map((name) => name.trim());
  const unknown = wanted?.filter((name) => !TARGETS.some((t) => t.name === name)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown targets: ${unknown.join(', ')}`);

  const secret = randomBytes(36).toString('base64url');
  const token = await signWorkerToken(secret);
  const database = await postgresForRun();
  const env: NodeJS.ProcessEnv = { ...process.env, BILLING_JWT_SECRET: secret, DATABASE_URL: database?.url };
  const results: TargetResult[] = [];
  const skipped: string[] = [];
  const failures: string[] = [];
  try {
    for (const target of TARGETS) {
      if (wanted && !wanted.includes(target.name)) continue;
      const reason = target.unavailable?.(database?.url);
      if (reason) {
        skipped.push(`${target.name} (${reason})`);
        continue;
      }
      if (!values.json) process.stderr.write(`measuring ${target.name}…\n`);
      try {
        results.push(await measure(target, options, env, token));
      } catch (error) {
        failures.push(`${target.name}: ${(error as Error).message}`);
      }
    }
  } finally {
    await database?.drop();
  }
  const settings = `${options.connections} connections, ${options.duration} s measured after ${options.warmup} s warm-up, pipelining ${options.pipelining}; load generator (autocannon) on the same machine`;
  const table = report(results, skipped, settings);
  if (values.out) writeFileSync(values.out, `${table}\n`);
  console.log(
    values.json ? JSON.stringify({ settings: options, results, skipped, failures }, null, 2) : table,
  );
  if (failures.length > 0) {
    console.error(`failed targets:\n${failures.join('\n')}`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
