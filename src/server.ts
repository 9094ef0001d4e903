import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { createBillingApp } from './app.js';
import { signWorkerToken } from './auth/worker-token.js';
import { type BillingConfig, ConfigError, loadConfig } from './config.js';
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
  const openedStore = await openBillingStore({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    seedDemo: config.seedDemo,
  });
  const store = tracing ? tracing.traceStore(openedStore) : openedStore;

  let shutdown: ReturnType<typeof createShutdown> | undefined;
  // The config goes over whole: every setting the app takes is named as `loadConfig` names it.
  const app = createBillingApp({
    config: { ...config, jwtSecret: secret },
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
      await Promise.all([metrics.shutdown(), tracing?.shutdown()]);
    },
  });
  const stop = (signal: NodeJS.Signals) => {
    shutdown?.begin(signal).then((code) => logger.flush(() => process.exit(code)));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  const lines = [
    `billing limits service listening on ${server.origin} (plan source: ${config.planSource}; store: ${describeStore(config)})`,
  ];
  if (config.disableAuth) lines.push('WARNING: authentication is disabled (BILLING_DISABLE_AUTH)');
  lines.push(config.adminSecret ? 'Admin API: on' : 'Admin API: off (set BILLING_ADMIN_SECRET)');
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

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
