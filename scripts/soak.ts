/**
 * `npm run soak [-- options]`: the service as it runs in production — several replicas on one
 * PostgreSQL — under a long, mixed load, then held to what the database must say.
 *
 * Creates a database `billing_soak_<hex>` on the given server, starts `--replicas` processes of
 * `src/server.ts` on it (NODE_ENV=production, random secrets), seeds `--tenants` tenants through the
 * admin API (plans mixed, some with small hard limits, some soft), and sends `--concurrency`
 * requests at a time over every replica: limits reads, reservations (with replays and reused keys),
 * releases (some twice), usage reads, admin writes and signed Orb webhooks (some re-delivered).
 * Every answer is checked; each replica's RSS is sampled after seeding and a warm-up, every 30 s and
 * at the end. Then the replicas get SIGTERM (they must exit 0) and the database is checked against
 * what the script was granted and released (scripts/soak/invariants.ts). Options:
 *
 *   --duration <s>       traffic after the warm-up (600)      --warmup <s>        warm-up traffic (10)
 *   --replicas <n>       service processes (2)                --concurrency <n>   requests in flight (32)
 *   --tenants <n>        tenants seeded (50)                  --database-url <u>  the PostgreSQL server
 *   --keep               keep the soak database               --out <file>        also write the report there
 *
 *   npm run soak -- --duration 30 --out soak.md
 *
 * The exit code is 0 only when no answer was unexpected, every invariant holds and every replica
 * exited 0. The database is dropped at the end (unless --keep), also on failure or Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { signAdminToken } from '../src/auth/admin-token.js';
import { signWorkerToken } from '../src/auth/worker-token.js';
import { HttpClient } from './soak/http.js';
import { checkInvariants, type InvariantResult } from './soak/invariants.js';
import { soakOptions, USAGE } from './soak/options.js';
import { killAllReplicasNow, type Replica, type ReplicaExit, rssKib, startReplica } from './soak/replicas.js';
import { type RssSample, renderReport, replicaExitedCleanly } from './soak/report.js';
import { Stats } from './soak/stats.js';
import { seedTenants, soakTenants } from './soak/tenants.js';
import { Workload } from './soak/workload.js';

const SAMPLE_EVERY_MS = 30_000;
const secret = () => randomBytes(32).toString('base64url'); // 43 characters
const progress = (line: string) => process.stderr.write(`[soak] ${line}\n`);

/** Resolves after `ms`, or rejects as soon as `signal` aborts. */
const wait = (ms: number, signal: AbortSignal) => sleep(ms, undefined, { signal });

async function main(): Promise<number> {
  const settings = soakOptions();
  if (settings.help) {
    console.log(USAGE);
    return 0;
  }
  const interrupt = new AbortController();
  let interruptedBy: string | undefined;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (interrupt.signal.aborted) {
        progress(`${signal} again: killing the replicas and exiting (the database may be left behind)`);
        killAllReplicasNow();
        process.exit(130);
      }
      interruptedBy = `${signal} received; traffic stopped early`;
      progress(`${signal}: stopping traffic, then cleaning up (again to force)`);
      interrupt.abort();
    });
  }

  const base = new URL(settings.databaseUrl);
  const databaseName = `billing_soak_${randomBytes(6).toString('hex')}`;
  const soakUrl = new URL(base);
  soakUrl.pathname = `/${databaseName}`;
  const admin = postgres(base.toString(), { max: 1, onnotice: () => {}, connect_timeout: 5 });
  await admin.unsafe(`create database ${databaseName}`);
  progress(`created database ${databaseName} on ${base.host}`);

  const secrets = { jwt: secret(), admin: secret(), orb: secret() };
  const ttlSeconds = Math.ceil(settings.warmupSeconds + settings.durationSeconds) + 3600;
  const tokens = {
    worker: await signWorkerToken(secrets.jwt, { ttlSeconds }),
    admin: await signAdminToken(secrets.admin, { subject: 'soak', ttlSeconds }),
  };
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '',
    HOME: process.env['HOME'] ?? '',
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: soakUrl.toString(),
    BILLING_JWT_SECRET: secrets.jwt,
    BILLING_ADMIN_SECRET: secrets.admin,
    ORB_WEBHOOK_SECRET: secrets.orb,
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
  };

  const replicas: Replica[] = [];
  const exits = new Map<string, ReplicaExit>();
  const rss: RssSample[] = [];
  const client = new HttpClient(settings.concurrency);
  const tenants = soakTenants(settings.tenants);
  const stopTraffic = new AbortController();
  const startedAt = performance.now();
  /** RSS sample times count from here: the start of traffic, once it started. */
  let clockZero = startedAt;
  let trafficSeconds = 0;
  let invariants: InvariantResult[] | undefined;
  let workload: Workload | undefined;
  interrupt.signal.addEventListener('abort', () => stopTraffic.abort(), { once: true });

  const sample = (label: string) => {
    const kib = new Map(replicas.map((replica) => [replica.name, rssKib(replica.pid)]));
    rss.push({ label, atSeconds: (performance.now() - clockZero) / 1000, kib });
    return [...kib.values()].map((v) => (v === undefined ? '–' : `${(v / 1024).toFixed(0)} MiB`)).join(' / ');
  };
  const stopReplicas = async () => {
    await Promise.all(
      replicas.map(async (replica) => exits.set(replica.name, replica.exit ?? (await replica.stop()))),
    );
  };

  try {
    const started = await Promise.allSettled(
      Array.from({ length: settings.replicas }, (_, i) =>
        startReplica(`replica ${i + 1}`, env, interrupt.signal),
      ),
    );
    for (const result of started) if (result.status === 'fulfilled') replicas.push(result.value);
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    for (const replica of replicas) {
      progress(`${replica.name}: ${replica.origin}, pid ${replica.pid} (${replica.processLine})`);
      void replica.exited.then((exit) => {
        if (!exit.unexpected || interrupt.signal.aborted) return;
        interruptedBy = `${replica.name} exited on its own (${exit.code ?? exit.signal}); traffic stopped`;
        progress(interruptedBy);
        stopTraffic.abort();
      });
    }
    const [first] = replicas;
    if (!first) throw new Error('no replica started');

    await seedTenants(client, first.origin, tokens.admin, tenants, interrupt.signal);
    progress(
      `seeded ${tenants.length} tenants; ${settings.warmupSeconds} s warm-up, then ${settings.durationSeconds} s`,
    );

    const trafficStart = performance.now();
    clockZero = trafficStart;
    const running = new Workload({
      client,
      origins: replicas.map(({ name, origin }) => ({ name, origin })),
      tenants,
      workerToken: tokens.worker,
      adminToken: tokens.admin,
      orbSecret: secrets.orb,
      runId: randomBytes(4).toString('hex'),
      startedAt: trafficStart,
    });
    workload = running;
    const totalSeconds = settings.warmupSeconds + settings.durationSeconds;
    // A safety bound far beyond what one in-flight slot can do (~1,000 req/s); the deadline ends the loop.
    const maxRequestsEach = Math.ceil(totalSeconds * 5_000);
    const deadline = trafficStart + totalSeconds * 1000;
    const traffic = running.run(settings.concurrency, deadline, maxRequestsEach, stopTraffic.signal);
    const line = (label: string, rssText: string) => {
      const seconds = (performance.now() - trafficStart) / 1000;
      progress(
        `${label} t=${seconds.toFixed(0)}s requests=${running.stats.total} unexpected=${running.errorCount} rss=${rssText}`,
      );
    };
    const sampling = (async () => {
      await wait(settings.warmupSeconds * 1000, stopTraffic.signal);
      line('start', sample('start'));
      // Every 30 s until the end sample, which is taken once the traffic has stopped.
      while (performance.now() + SAMPLE_EVERY_MS < deadline - 1_000) {
        await wait(SAMPLE_EVERY_MS, stopTraffic.signal);
        line('sample', sample(`${Math.round((performance.now() - trafficStart) / 1000)}s`));
      }
    })().catch(() => {});
    const { capped } = await traffic;
    stopTraffic.abort();
    await sampling;
    trafficSeconds = (performance.now() - trafficStart) / 1000;
    if (capped > 0) progress(`${capped} loops stopped at their request cap (${maxRequestsEach})`);
    if (!rss.some((s) => s.label === 'start')) sample('start');
    line('end', sample('end'));

    client.close();
    await stopReplicas();
    const sql = postgres(soakUrl.toString(), { max: 1, onnotice: () => {}, connect_timeout: 5 });
    try {
      invariants = await checkInvariants(sql, tenants, running);
    } finally {
      await sql.end({ timeout: 5 });
    }
  } catch (error) {
    if (!interrupt.signal.aborted) throw error;
    progress(`interrupted: ${(error as Error).message}`);
  } finally {
    client.close();
    await stopReplicas();
    if (settings.keep) progress(`kept database ${databaseName} (${soakUrl.host})`);
    else {
      try {
        await admin.unsafe(`drop database if exists ${databaseName} with (force)`);
        progress(`dropped database ${databaseName}`);
      } catch (error) {
        progress(`could not drop database ${databaseName}: ${(error as Error).message}`);
      }
    }
    await admin.end({ timeout: 5 }).catch(() => {});
  }

  const report = renderReport({
    settings: `${settings.replicas} replicas · ${settings.concurrency} requests in flight · ${settings.tenants} tenants · ${settings.warmupSeconds} s warm-up + ${settings.durationSeconds} s`,
    database: databaseName,
    kept: settings.keep,
    warmupSeconds: settings.warmupSeconds,
    trafficSeconds,
    interrupted: interruptedBy,
    stats: workload?.stats ?? new Stats(),
    counters: workload?.counters ?? new Map(),
    errorCount: workload?.errorCount ?? 0,
    errors: workload?.errors ?? [],
    invariants,
    rss,
    replicas,
    exits,
  });
  console.log(report);
  if (settings.out) writeFileSync(settings.out, `${report}\n`);

  const ok =
    !interruptedBy &&
    (workload?.errorCount ?? 1) === 0 &&
    invariants?.every((invariant) => invariant.pass) === true &&
    replicas.length === settings.replicas &&
    replicas.every((replica) => replicaExitedCleanly(exits.get(replica.name)));
  if (interrupt.signal.aborted) return 130;
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
