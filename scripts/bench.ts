/**
 * `npm run bench [-- options]`: the limits endpoint measured against the HTTP stack's own ceiling,
 * in one run, so the ratios mean something on a shared, noisy machine (absolute numbers don't).
 *
 * Each target (scripts/bench/targets.ts; adding one is one entry there) is served by a child
 * process of its own on 127.0.0.1 with NODE_ENV=production; this process checks its answer, warms
 * it up, checks again, loads it with autocannon for a fixed time at fixed concurrency, asks the
 * child for its CPU time, and stops it. Targets run one after another. Options:
 *
 *   --duration <s>      measured seconds per target (10)     --warmup <s>      warm-up seconds (3)
 *   --connections <n>   concurrent connections (64)          --pipelining <n>  requests per connection (1)
 *   --targets a,b       a subset (default: all that can run here)
 *   --json              JSON instead of the markdown table    --out <file>      also write the table there
 *   --keep              keep the PostgreSQL database `billing_bench` for the next run
 *
 *   npm run bench -- --duration 5 --targets hono,header,trpc --out bench/results/today.md
 *
 * PostgreSQL targets run when DATABASE_URL or TEST_DATABASE_URL is reachable, in a database
 * `billing_bench` on that server, dropped at the end unless `--keep` is given (a kept database
 * saves the next run the slow part, seeding the cold-cache tenants; the next run without `--keep`
 * uses it and drops it).
 * The exit code is non-zero only when the harness fails or a target answers wrongly; a target that
 * misses one of the goals is reported, not failed.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { signWorkerToken } from '../src/auth/worker-token.js';
import { type BenchSettings, benchTarget, type TargetResult } from './bench/run-target.js';
import { TARGETS } from './bench/targets.js';

const USAGE = `usage: npm run bench -- [--duration s] [--warmup s] [--connections n] [--pipelining n]
  [--targets ${TARGETS.map((t) => t.name).join(',')}] [--json] [--out file] [--keep] [--help]`;

/** The run's database, and its end: dropped unless kept. */
async function postgresForRun(keep: boolean): Promise<{ url: string; close(): Promise<void> } | undefined> {
  const base = process.env['DATABASE_URL'] ?? process.env['TEST_DATABASE_URL'];
  if (!base) return undefined;
  const admin = postgres(base, { max: 1, onnotice: () => {}, connect_timeout: 3 });
  const name = 'billing_bench';
  try {
    const [exists] = await admin`select 1 from pg_database where datname = ${name}`;
    if (!exists) await admin.unsafe(`create database ${name}`);
  } catch (error) {
    await admin.end({ timeout: 1 });
    console.error(`PostgreSQL at ${new URL(base).host} not reachable: ${(error as Error).message}`);
    return undefined;
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async close() {
      try {
        if (keep) console.error(`kept the PostgreSQL database ${name} (--keep)`);
        else await admin.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await admin.end({ timeout: 1 });
      }
    },
  };
}

const fixed = (value: number, digits = 2) => value.toFixed(digits);
const ms = (value: number) => fixed(value, value < 10 ? 2 : 1);

function report(results: TargetResult[], skipped: string[], failures: string[], settings: string): string {
  const baseline = results.find((r) => TARGETS.find((t) => t.name === r.target)?.baseline);
  const rpsRatio = (r: TargetResult) =>
    baseline ? r.requestsPerSecond / baseline.requestsPerSecond : undefined;
  const cpuRatio = (r: TargetResult) =>
    baseline && baseline.cpuMicrosPerRequest > 0
      ? r.cpuMicrosPerRequest / baseline.cpuMicrosPerRequest
      : undefined;
  const p99Ratio = (r: TargetResult) =>
    baseline && baseline.p99Ms > 0 ? r.p99Ms / baseline.p99Ms : undefined;
  const orDash = (value: number | undefined) => (value === undefined ? '–' : fixed(value));
  const lines = [
    `Billing limits bench — ${new Date().toISOString()} — ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}`,
    settings,
    '',
    '| target | req/s | × hono | p50 ms | p99 ms | p99 × hono | errors | server CPU µs/req | CPU × hono | store reads |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.target} | ${Math.round(r.requestsPerSecond)} | ${orDash(rpsRatio(r))} | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${orDash(p99Ratio(r))} | ${r.errors} | ${fixed(r.cpuMicrosPerRequest, 0)} | ${orDash(cpuRatio(r))} | ${r.storeReads} |`,
    );
  }
  if (failures.length > 0) lines.push('', ...failures.map((line) => `FAILED: ${line}`));
  if (skipped.length > 0) lines.push('', ...skipped.map((line) => `skipped: ${line}`));
  const checks: string[] = [];
  for (const r of results) {
    const goals = TARGETS.find((t) => t.name === r.target)?.goals;
    const ratio = rpsRatio(r);
    const p99 = p99Ratio(r);
    if (goals?.minRpsRatio !== undefined && ratio !== undefined) {
      const pass = ratio >= goals.minRpsRatio;
      checks.push(
        `- ${pass ? 'PASS' : 'MISS'} ${r.target} req/s ≥ ${goals.minRpsRatio} × hono: ${fixed(ratio)}`,
      );
    }
    if (goals?.maxP99Ratio !== undefined && p99 !== undefined) {
      const pass = p99 <= goals.maxP99Ratio;
      checks.push(
        `- ${pass ? 'PASS' : 'MISS'} ${r.target} p99 ≤ ${goals.maxP99Ratio} × hono p99: ${fixed(p99)}`,
      );
    }
    const cpu = cpuRatio(r);
    if (goals?.maxCpuRatio !== undefined && cpu !== undefined) {
      const pass = cpu <= goals.maxCpuRatio;
      checks.push(
        `- ${pass ? 'PASS' : 'MISS'} ${r.target} server CPU ≤ ${goals.maxCpuRatio} × hono's: ${fixed(cpu)} (${fixed(r.cpuMicrosPerRequest, 0)} µs)`,
      );
    }
    if (goals?.minRps !== undefined) {
      const pass = r.requestsPerSecond >= goals.minRps;
      checks.push(
        `- ${pass ? 'PASS' : 'MISS'} ${r.target} req/s ≥ ${goals.minRps}: ${Math.round(r.requestsPerSecond)}`,
      );
    }
    if (goals?.maxCpuMicros !== undefined) {
      const pass = r.cpuMicrosPerRequest <= goals.maxCpuMicros;
      checks.push(
        `- ${pass ? 'PASS' : 'MISS'} ${r.target} server CPU ≤ ${goals.maxCpuMicros} µs a request: ${fixed(r.cpuMicrosPerRequest, 0)}`,
      );
    }
    const without =
      goals?.costComparedTo && results.find((other) => other.target === goals.costComparedTo?.target);
    if (goals?.costComparedTo && without) {
      const cost = r.cpuMicrosPerRequest - without.cpuMicrosPerRequest;
      const pass = cost <= goals.costComparedTo.maxMicros;
      checks.push(
        `- ${pass ? 'PASS' : 'MISS'} ${goals.costComparedTo.what}: ${r.target} − ${without.target} ≤ ${goals.costComparedTo.maxMicros} µs a request: ${fixed(cost, 1)}`,
      );
    }
  }
  if (checks.length > 0) lines.push('', 'Goals:', ...checks);
  const cycles = results.flatMap((r) => {
    const cycle = TARGETS.find((t) => t.name === r.target)?.cycle;
    if (!cycle) return [];
    const perCycle = cycle.length;
    return [
      `- ${r.target}: ${perCycle} requests (${cycle.join(', ')}): ${Math.round(r.requestsPerSecond / perCycle)} a second, ${fixed(r.cpuMicrosPerRequest * perCycle, 0)} µs server CPU each`,
    ];
  });
  if (cycles.length > 0) lines.push('', 'Per cycle:', ...cycles);
  const reads = results.filter((r) => r.storeReads > 0);
  if (reads.length > 0) {
    lines.push(
      '',
      ...reads.map((r) => `${r.target}: ${r.storeReads} store reads for ${r.requests} requests`),
    );
  }
  return lines.join('\n');
}

function settingsFrom(values: Record<string, string | boolean | undefined>): BenchSettings {
  const number = (name: string, { min, integer }: { min: number; integer: boolean }) => {
    const value = Number(values[name]);
    if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
      throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}\n${USAGE}`);
    }
    return value;
  };
  return {
    // autocannon runs forever with a duration of 0.
    durationSeconds: number('duration', { min: 0.1, integer: false }),
    warmupSeconds: number('warmup', { min: 0, integer: false }),
    connections: number('connections', { min: 1, integer: true }),
    pipelining: number('pipelining', { min: 1, integer: true }),
  };
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
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const settings = settingsFrom(values);
  const wanted = values.targets?.split(',').map((name) => name.trim());
  const unknown = wanted?.filter((name) => !TARGETS.some((t) => t.name === name)) ?? [];
  if (unknown.length > 0) throw new Error(`unknown targets: ${unknown.join(', ')}\n${USAGE}`);

  // A Ctrl-C or a kill between targets still takes the current child down (see run-target.ts).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => process.exit(signal === 'SIGINT' ? 130 : 143));
  }

  const secret = randomBytes(36).toString('base64url');
  const token = await signWorkerToken(secret);
  const database = await postgresForRun(values.keep);
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
        const result = await benchTarget(target, settings, { secret, token, databaseUrl: database?.url });
        results.push(result);
        if (result.mismatches > 0) {
          failures.push(`${target.name}: ${result.mismatches} answers under load had the wrong body`);
        }
      } catch (error) {
        failures.push(`${target.name}: ${(error as Error).message}`);
      }
    }
  } finally {
    await database?.close();
  }
  const description = `${settings.connections} connections, ${settings.durationSeconds} s measured after ${settings.warmupSeconds} s warm-up, pipelining ${settings.pipelining}; load generator (autocannon) on the same machine`;
  const table = report(results, skipped, failures, description);
  if (values.out) writeFileSync(values.out, `${table}\n`);
  console.log(values.json ? JSON.stringify({ settings, results, skipped, failures }, null, 2) : table);
  if (failures.length > 0) {
    console.error(`failed targets:\n${failures.join('\n')}`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
