import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import { createBillingApp } from './app.js';
import { signWorkerToken } from './auth/worker-token.js';
import { type BillingConfig, ConfigError, loadConfig } from './config.js';
import { DataDirInUse, type DataDirLock, lockDataDir } from './db/data-dir-lock.js';
import { ListenConnectionError } from './db/database.js';
import { openBillingStore } from './db/store.js';
import { devSecretsFor } from './dev-secrets.js';
import { createShutdown } from './graceful-shutdown.js';
import { metricsRoute } from './http/metrics-route.js';
import { listen } from './http/node-server.js';
import { createLogger, type Logger } from './telemetry/logger.js';
import { createPrometheusMetrics } from './telemetry/metrics.js';
import { startTracing } from './telemetry/tracing.js';

/** A start-up failure with a known cause: printed as its one line, exit code 1. */
class StartupError extends Error {
  override readonly name = 'StartupError';
}

function describeStore(config: BillingConfig): string {
  if (!config.databaseUrl) return `PGlite at ${config.dataDir}`;
  const url = new URL(config.databaseUrl);
  return `PostgreSQL at ${url.host}${url.pathname}`; // never the password
}

/** How cached limits learn of other replicas' writes, for the start-up lines. */
function describeInvalidation(config: BillingConfig, mode: 'notify' | 'ttl'): string {
  if (mode === 'ttl') return `TTL only (${config.cacheTtlMs} ms): LISTEN hears nothing, see the warning`;
  if (!config.databaseUrl) return 'notify';
  return config.listenDatabaseUrl
    ? 'notify (LISTEN on BILLING_LISTEN_DATABASE_URL)'
    : 'notify (LISTEN on DATABASE_URL)';
}

/** The warning when a LISTEN did not hear its own NOTIFY: what it means and what to set. */
function notificationsLost(config: BillingConfig): string {
  const setting = config.listenDatabaseUrl ? 'BILLING_LISTEN_DATABASE_URL' : 'DATABASE_URL';
  const remedy = config.listenDatabaseUrl
    ? 'point BILLING_LISTEN_DATABASE_URL at PostgreSQL directly or at a session-mode pool'
    : 'set BILLING_LISTEN_DATABASE_URL to a direct (or session-mode) connection';
  return (
    `LISTEN on ${setting} did not hear its own NOTIFY within 1 s (a transaction-mode pooler such as PgBouncer?): ` +
    `cache invalidation falls back to TTL only — other replicas' writes show here once cached limits expire ` +
    `(BILLING_CACHE_TTL_MS=${config.cacheTtlMs}); ${remedy}`
  );
}

/**
 * The embedded store is this process's alone: a second server, or an admin CLI opening the
 * files, would keep a copy of its own and lose writes. The lock file tells them where we are.
 */
function lockEmbeddedStore(config: BillingConfig, logger: Logger): Promise<DataDirLock> {
  return lockDataDir(config.dataDir, 'server', {
    onWait: (holder) =>
      console.error(
        `waiting for the embedded store at ${config.dataDir} (locked by ${holder ? `pid ${holder.pid}` : 'a process that is gone'})`,
      ),
    onLost(error) {
      // As PostgreSQL does when its postmaster.pid goes: stop at once, writing nothing more.
      logger.fatal({ err: error }, `lost the lock on the embedded store at ${config.dataDir}`);
      logger.flush(() => process.exit(1));
    },
  });
}

/**
 * The secrets this run signs and checks tokens with. Configured ones always win. Outside
 * production a missing one is generated so that `npm start` works on a fresh machine: on the
 * embedded store it is kept beside the store (a restart keeps tokens valid) and the admin API
 * gets one too (for the admin CLI); on PostgreSQL the worker secret lives for the run.
 */
function secretsOf(config: BillingConfig, dataDirLock: DataDirLock | undefined) {
  const development = config.nodeEnv !== 'production';
  const needsWorkerSecret = !config.jwtSecret && !config.disableAuth;
  const kept =
    development && dataDirLock && (needsWorkerSecret || !config.adminSecret)
      ? devSecretsFor(config.dataDir)
      : undefined;
  const jwtSecret = config.jwtSecret ?? kept?.secrets.jwt_secret ?? randomBytes(32).toString('base64url');
  const adminSecret = config.adminSecret ?? kept?.secrets.admin_secret;
  return {
    jwtSecret,
    adminSecret,
    /** Where a generated secret is kept (undefined: configured, or for this run only). */
    keptIn: kept && { file: kept.file, created: kept.created },
    generatedWorkerSecret: needsWorkerSecret,
    generatedAdminSecret: !config.adminSecret && adminSecret !== undefined,
  };
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel });
  const tracing = config.otlpEndpoint
    ? startTracing({ endpoint: config.otlpEndpoint, serviceName: config.serviceName })
    : undefined;
  const metrics = createPrometheusMetrics({ serviceName: config.serviceName });
  const dataDirLock = config.databaseUrl ? undefined : await lockEmbeddedStore(config, logger);
  const secrets = secretsOf(config, dataDirLock);
  const openedStore = await openBillingStore({
    url: config.databaseUrl,
    listenUrl: config.listenDatabaseUrl,
    prepare: config.databasePrepare,
    dataDir: config.dataDir,
    dataDirLock,
    seedDemo: config.seedDemo,
    alertThresholds: {
      warningPercent: config.alertWarningPercent,
      hysteresisPercent: config.alertHysteresisPercent,
    },
  }).catch((error: unknown) => {
    if (error instanceof ListenConnectionError && isUnreachable(error)) {
      throw new StartupError(
        `cannot open PostgreSQL at ${error.url} to LISTEN: ${String(error.code)} (check BILLING_LISTEN_DATABASE_URL)`,
      );
    }
    throw config.databaseUrl && isUnreachable(error)
      ? new StartupError(unreachableDatabase(config.databaseUrl, error))
      : error;
  });
  if (openedStore.invalidation === 'ttl') logger.warn(notificationsLost(config));
  const store = tracing ? tracing.traceStore(openedStore) : openedStore;

  let shutdown: ReturnType<typeof createShutdown> | undefined;
  const streamsClosing = new AbortController();
  // The config goes over whole: every setting the app takes is named as `loadConfig` names it.
  const app = createBillingApp({
    config: { ...config, jwtSecret: secrets.jwtSecret, adminSecret: secrets.adminSecret },
    dependencies: { store, logger, metrics, tracer: tracing },
    hooks: { isShuttingDown: () => shutdown?.started ?? false, streamsClosing: streamsClosing.signal },
  });

  const limits = { maxHeaderBytes: config.maxHeaderBytes, requestTimeoutMs: config.requestTimeoutMs };
  const server = await listening(
    listen(app.fetch, { port: config.port, hostname: config.host, ...limits }),
    'PORT',
  );
  const servers = [server];
  if (config.metricsPort !== undefined) {
    const metricsApp = new Hono().get('/metrics', metricsRoute(metrics));
    const metricsListener = listen(metricsApp.fetch, {
      port: config.metricsPort,
      hostname: config.metricsHost,
    });
    servers.push(await listening(metricsListener, 'BILLING_METRICS_PORT'));
  }

  shutdown = createShutdown({
    servers,
    delayMs: config.shutdownDelayMs,
    timeoutMs: config.shutdownTimeoutMs,
    logger,
    onClose: () => streamsClosing.abort(),
    async release() {
      await store.close();
      await dataDirLock?.release();
      await Promise.all([metrics.shutdown(), tracing?.shutdown()]);
    },
  });
  const stop = (signal: NodeJS.Signals) => {
    shutdown?.begin(signal).then((code) => logger.flush(() => process.exit(code)));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  // For the admin CLI beside us: where we listen, and the secrets we generated.
  dataDirLock?.publish({
    url: localOriginOf(server.address),
    ...(secrets.generatedWorkerSecret ? { jwt_secret: secrets.jwtSecret } : {}),
    ...(secrets.generatedAdminSecret ? { admin_secret: secrets.adminSecret } : {}),
  });

  const keptIn =
    secrets.keptIn &&
    `${secrets.keptIn.file} (${secrets.keptIn.created ? 'created now' : 'kept from an earlier run'})`;
  const lines = [
    `billing limits service listening on ${server.origin} (pid ${process.pid}; plan source: ${config.planSource}; store: ${describeStore(config)})`,
    `Cache invalidation: ${describeInvalidation(config, store.invalidation)}`,
  ];
  if (config.disableAuth) lines.push('WARNING: authentication is disabled (BILLING_DISABLE_AUTH)');
  if (secrets.generatedAdminSecret) {
    lines.push(`Admin API: on, with the development admin secret in ${keptIn} (the admin CLI uses it)`);
  } else lines.push(secrets.adminSecret ? 'Admin API: on' : 'Admin API: off (set BILLING_ADMIN_SECRET)');
  lines.push(
    config.orbWebhookSecret
      ? 'Orb webhook: on (POST /webhooks/orb)'
      : 'Orb webhook: off (set ORB_WEBHOOK_SECRET)',
  );
  lines.push(`Metrics: ${servers[1] ? `${servers[1].origin}/metrics` : `${server.origin}/metrics`}`);
  if (tracing) lines.push(`Traces: OTLP to ${config.otlpEndpoint}`);
  if (secrets.generatedWorkerSecret) {
    const token = await signWorkerToken(secrets.jwtSecret, { ttlSeconds: 24 * 3600 });
    lines.push(
      '',
      keptIn
        ? `No BILLING_JWT_SECRET set: using the development secret in ${keptIn}:`
        : 'No BILLING_JWT_SECRET set: generated one for this run:',
      `  BILLING_JWT_SECRET=${secrets.jwtSecret}`,
      'Try it (the token is valid for 24 hours):',
      `  curl -s ${server.origin}/billing/limits -H 'tenant-id: org-456' -H 'x-plan-type: growth' -H 'Authorization: Bearer ${token}'`,
    );
  }
  lines.push(`API reference: ${server.origin}/docs`);
  if (secrets.adminSecret) {
    lines.push(
      `Operator console: ${server.origin}/console (sign in with a token from \`npm run -s admin -- token admin --sub <your name>\`)`,
    );
  }
  logger.flush();
  console.log(lines.join('\n'));
}

/** A listener that could not bind, in one line naming the setting to change. */
async function listening<T>(bound: Promise<T>, setting: string): Promise<T> {
  try {
    return await bound;
  } catch (error) {
    const { code, address, port } = error as NodeJS.ErrnoException & { address?: string; port?: number };
    if (code === 'EADDRINUSE') {
      throw new StartupError(
        `cannot listen on ${address}:${port}: the port is in use (set ${setting} to another port, or stop what holds it)`,
      );
    }
    if (code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new StartupError(`cannot listen on ${address}:${port}: ${code} (check ${setting} and HOST)`);
    }
    throw error;
  }
}

/** Why a database can't be used at all: not there, not answering, not letting us in. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'CONNECT_TIMEOUT',
  '28P01', // password authentication failed
  '28000', // no such role / not allowed
  '3D000', // no such database
]);
const isUnreachable = (error: unknown) => UNREACHABLE.has(String((error as { code?: unknown }).code));

function unreachableDatabase(databaseUrl: string, error: unknown): string {
  const url = new URL(databaseUrl);
  const reason = (error as { code?: unknown; message?: string }).code ?? (error as Error).message;
  return `cannot open PostgreSQL at ${url.host}${url.pathname}: ${String(reason)} (check DATABASE_URL, or unset it for the embedded store)`;
}

/** Where a process on this machine reaches the server: a wildcard address means loopback. */
function localOriginOf(address: AddressInfo): string {
  if (address.address === '0.0.0.0') return `http://127.0.0.1:${address.port}`;
  if (address.address === '::') return `http://[::1]:${address.port}`;
  return address.family === 'IPv6'
    ? `http://[${address.address}]:${address.port}`
    : `http://${address.address}:${address.port}`;
}

main().catch((error: unknown) => {
  const expected =
    error instanceof ConfigError || error instanceof DataDirInUse || error instanceof StartupError;
  console.error(expected ? (error as Error).message : error);
  process.exit(1);
});
