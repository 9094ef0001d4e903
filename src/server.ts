import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import { createBillingApp } from './app.js';
import { signWorkerToken } from './auth/worker-token.js';
import { type BillingConfig, ConfigError, loadConfig } from './config.js';
import { DataDirInUse, lockDataDir } from './db/data-dir-lock.js';
import { openBillingStore } from './db/store.js';
import { createShutdown } from './graceful-shutdown.js';
import { metricsRoute } from './http/metrics-route.js';
import { listen } from './http/node-server.js';
import { createLogger } from './telemetry/logger.js';
import { createPrometheusMetrics } from './telemetry/metrics.js';
import { startTracing } from './telemetry/tracing.js';

function describeStore(config: BillingConfig): string {
  if (!config.databaseUrl) return `PGlite at ${config.dataDir}`;
  const url = new URL(config.databaseUrl);
  return `PostgreSQL at ${url.host}${url.pathname}`; // never the password
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel });
  const tracing = config.otlpEndpoint
    ? startTracing({ endpoint: config.otlpEndpoint, serviceName: config.serviceName })
    : undefined;
  const metrics = createPrometheusMetrics({ serviceName: config.serviceName });
  // Outside production a missing secret is generated for this run, so `npm start` works on a fresh machine.
  const generatedSecret = !config.jwtSecret && !config.disableAuth;
  const secret = config.jwtSecret ?? randomBytes(32).toString('base64url');
  // The embedded store is this process's alone: a second server, or an admin CLI opening the
  // files, would keep a copy of its own and lose writes. The lock file tells them where we are.
  const dataDirLock = config.databaseUrl
    ? undefined
    : await lockDataDir(config.dataDir, 'server', {
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
  // On the embedded store a development server has an admin API even without a configured secret,
  // so that the admin CLI beside it can write through it (it reads the secret from the lock file).
  const generatedAdminSecret =
    dataDirLock && !config.adminSecret && config.nodeEnv !== 'production'
      ? randomBytes(32).toString('base64url')
      : undefined;
  const adminSecret = config.adminSecret ?? generatedAdminSecret;
  const openedStore = await openBillingStore({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    dataDirLock,
    seedDemo: config.seedDemo,
  });
  const store = tracing ? tracing.traceStore(openedStore) : openedStore;

  let shutdown: ReturnType<typeof createShutdown> | undefined;
  // The config goes over whole: every setting the app takes is named as `loadConfig` names it.
  const app = createBillingApp({
    config: { ...config, jwtSecret: secret, adminSecret },
    dependencies: { store, logger, metrics, tracer: tracing },
    hooks: { isShuttingDown: () => shutdown?.started ?? false },
  });

  const limits = { maxHeaderBytes: config.maxHeaderBytes, requestTimeoutMs: config.requestTimeoutMs };
  const server = await listen(app.fetch, { port: config.port, hostname: config.host, ...limits });
  const servers = [server];
  if (config.metricsPort !== undefined) {
    const metricsApp = new Hono().get('/metrics', metricsRoute(metrics));
    servers.push(await listen(metricsApp.fetch, { port: config.metricsPort, hostname: config.metricsHost }));
  }

  shutdown = createShutdown({
    servers,
    delayMs: config.shutdownDelayMs,
    timeoutMs: config.shutdownTimeoutMs,
    logger,
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

  dataDirLock?.publish({
    url: localOriginOf(server.address),
    ...(generatedSecret ? { jwt_secret: secret } : {}),
    ...(generatedAdminSecret ? { admin_secret: generatedAdminSecret } : {}),
  });

  const lines = [
    `billing limits service listening on ${server.origin} (plan source: ${config.planSource}; store: ${describeStore(config)})`,
  ];
  if (config.disableAuth) lines.push('WARNING: authentication is disabled (BILLING_DISABLE_AUTH)');
  if (generatedAdminSecret) {
    lines.push(
      `Admin API: on, with a secret generated for this run (the admin CLI reads it from ${config.dataDir}.owner.json)`,
    );
  } else lines.push(adminSecret ? 'Admin API: on' : 'Admin API: off (set BILLING_ADMIN_SECRET)');
  lines.push(
    config.orbWebhookSecret
      ? 'Orb webhook: on (POST /webhooks/orb)'
      : 'Orb webhook: off (set ORB_WEBHOOK_SECRET)',
  );
  lines.push(`Metrics: ${servers[1] ? `${servers[1].origin}/metrics` : `${server.origin}/metrics`}`);
  if (tracing) lines.push(`Traces: OTLP to ${config.otlpEndpoint}`);
  if (generatedSecret) {
    const token = await signWorkerToken(secret, { ttlSeconds: 24 * 3600 });
    lines.push(
      '',
      'No BILLING_JWT_SECRET set: generated one for this run:',
      `  BILLING_JWT_SECRET=${secret}`,
      'Try it (the token is valid for 24 hours):',
      `  curl -s ${server.origin}/billing/limits -H 'tenant-id: org-456' -H 'x-plan-type: growth' -H 'Authorization: Bearer ${token}'`,
    );
  }
  lines.push(`API reference: ${server.origin}/docs`);
  logger.flush();
  console.log(lines.join('\n'));
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
  const expected = error instanceof ConfigError || error instanceof DataDirInUse;
  console.error(expected ? (error as Error).message : error);
  process.exit(1);
});
