/** The soak's markdown report. */
import { cpus } from 'node:os';
import type { InvariantResult } from './invariants.js';
import type { Replica, ReplicaExit } from './replicas.js';
import type { Stats } from './stats.js';
import type { SoakError } from './workload.js';

export interface RssSample {
  label: string;
  atSeconds: number;
  /** KiB per replica, by replica name; undefined once a replica is gone. */
  kib: Map<string, number | undefined>;
}

export interface SoakReport {
  settings: string;
  database: string;
  kept: boolean;
  warmupSeconds: number;
  trafficSeconds: number;
  interrupted: string | undefined;
  stats: Stats;
  counters: ReadonlyMap<string, number>;
  errorCount: number;
  errors: readonly SoakError[];
  invariants: readonly InvariantResult[] | undefined;
  rss: readonly RssSample[];
  replicas: readonly Replica[];
  exits: ReadonlyMap<string, ReplicaExit>;
}

const ms = (value: number) => value.toFixed(value < 10 ? 2 : 1);
const mib = (kib: number) => (kib / 1024).toFixed(1);
const exitText = (exit: ReplicaExit | undefined) =>
  exit
    ? `${exit.code ?? `signal ${exit.signal}`}${exit.unexpected ? ' (ended on its own)' : ''}`
    : 'still running';

export const replicaExitedCleanly = (exit: ReplicaExit | undefined) => exit?.code === 0 && !exit.unexpected;

export function renderReport(r: SoakReport): string {
  const total = r.stats.total;
  const lines = [
    `# Billing limits soak — ${new Date().toISOString()}`,
    '',
    `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}`,
    r.settings,
    `Database: \`${r.database}\` (${r.kept ? 'kept' : 'dropped at the end'})`,
    '',
    `Traffic: ${r.trafficSeconds.toFixed(1)} s (${r.warmupSeconds} s warm-up included) · ${total} requests · ${(
      total / Math.max(r.trafficSeconds, 0.001)
    ).toFixed(1)} req/s · ${r.errorCount} unexpected`,
  ];
  if (r.interrupted) lines.push('', `**Interrupted:** ${r.interrupted}`);

  lines.push(
    '',
    '## Routes',
    '',
    '| route | requests | statuses | p50 ms | p99 ms | max ms |',
    '|---|---:|---|---:|---:|---:|',
  );
  for (const [route, stats] of [...r.stats.routes.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const statuses = [...stats.statuses.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([status, count]) => `${status}×${count}`)
      .join(', ');
    const latency = stats.latency;
    lines.push(
      `| ${route} | ${stats.count} | ${statuses} | ${ms(latency.quantile(0.5))} | ${ms(latency.quantile(0.99))} | ${ms(latency.maxMs)} |`,
    );
  }
  if (r.counters.size > 0) {
    lines.push('', 'Outcomes:', '');
    for (const [name, count] of [...r.counters.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`- ${name}: ${count}`);
    }
  }

  lines.push('', '## Errors', '');
  if (r.errorCount === 0) lines.push('None: every answer had an expected status and body.');
  else {
    lines.push(`${r.errorCount} unexpected answers or network errors; the first ${r.errors.length}:`, '');
    for (const e of r.errors) {
      lines.push(
        `- t=${e.atSeconds}s ${e.replica} ${e.route} → ${e.status}: \`${e.request}\` → \`${e.detail}\``,
      );
    }
  }

  lines.push('', '## Invariants', '');
  if (!r.invariants) lines.push('Not checked (the run did not get that far).');
  for (const invariant of r.invariants ?? []) {
    lines.push(`- ${invariant.pass ? 'PASS' : 'FAIL'} ${invariant.name} — ${invariant.summary}`);
    if (invariant.rows.length > 0) lines.push('', ...invariant.rows.map((row) => `  ${row}`), '');
  }

  lines.push('', '## Memory (VmRSS)', '');
  const start = r.rss.find((sample) => sample.label === 'start');
  const end = [...r.rss].reverse().find((sample) => sample.label === 'end');
  lines.push(
    `${r.rss.length} samples (s after traffic began): ${r.rss.map((s) => `${s.label}@${Math.round(s.atSeconds)}`).join(', ')}. ` +
      'RSS saws with garbage collection: judge a leak by the trend over a long run, not by one pair.',
    '',
    '| replica | pid | start MiB | end MiB | min MiB | max MiB | growth MiB | growth % |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const replica of r.replicas) {
    const values = r.rss.map((s) => s.kib.get(replica.name)).filter((v): v is number => v !== undefined);
    const first = start?.kib.get(replica.name);
    const last = end?.kib.get(replica.name);
    const max = values.length > 0 ? Math.max(...values) : undefined;
    const min = values.length > 0 ? Math.min(...values) : undefined;
    const growth = first !== undefined && last !== undefined ? last - first : undefined;
    const dash = (v: number | undefined) => (v === undefined ? '–' : mib(v));
    const percent = growth !== undefined && first ? ((100 * growth) / first).toFixed(1) : '–';
    lines.push(
      `| ${replica.name} | ${replica.pid} | ${dash(first)} | ${dash(last)} | ${dash(min)} | ${dash(max)} | ${dash(growth)} | ${percent} |`,
    );
  }

  lines.push(
    '',
    '## Replicas',
    '',
    '| replica | origin | process (ps) | exit code | stderr lines |',
    '|---|---|---|---:|---:|',
  );
  for (const replica of r.replicas) {
    const exit = r.exits.get(replica.name) ?? replica.exit;
    lines.push(
      `| ${replica.name} | ${replica.origin} | \`${replica.processLine}\`${replica.isServerProcess ? '' : ' (NOT the server process itself)'} | ${exitText(exit)} | ${replica.stderr.lines} |`,
    );
  }
  for (const replica of r.replicas) {
    if (replica.stderr.first.length === 0) continue;
    lines.push('', `${replica.name} stderr (first ${replica.stderr.first.length} lines):`, '', '```');
    lines.push(...replica.stderr.first.map((line) => (line.length > 400 ? `${line.slice(0, 400)}…` : line)));
    lines.push('```');
  }
  return lines.join('\n');
}
