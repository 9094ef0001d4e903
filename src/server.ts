import { randomBytes } from 'node:crypto';
import { serve } from '@hono/node-server';
import { createBillingApp } from './app.js';
import { signWorkerToken } from './auth/worker-token.js';
import { type BillingConfig, ConfigError, loadConfig } from './config.js';
import { openLimitsStore } from './db/open-store.js';

function describeStore(config: BillingConfig): string {
  if (!config.databaseUrl) return `PGlite at ${config.dataDir}`;
  const url = new URL(config.databaseUrl);
  return `PostgreSQL at ${url.host}${url.pathname}`; // never the password
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  // Outside production a missing secret is generated for this run, so `npm start` works on a fresh machine.
  const generatedSecret = !config.jwtSecret && !config.disableAuth;
  const secret = config.jwtSecret ?? randomBytes(32).toString('base64url');
  const store = await openLimitsStore({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    seedDemo: config.seedDemo,
  });
  const app = createBillingApp({
    secret,
    disableAuth: config.disableAuth,
    planSource: config.planSource,
    store,
    adminSecret: config.adminSecret,
    cacheTtlMs: config.cacheTtlMs,
    orbWebhookSecret: config.orbWebhookSecret,
    orbDefaultPlan: config.orbDefaultPlan,
    clockToleranceSeconds: config.clockToleranceSeconds,
    tokenCacheSize: config.tokenCacheSize,
  });

  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, async (info) => {
    const origin = `http://${info.family === 'IPv6' ? `[${info.address}]` : info.address}:${info.port}`;
    const lines = [
      `billing limits service listening on ${origin} (plan source: ${config.planSource}; store: ${describeStore(config)})`,
    ];
    if (config.disableAuth) lines.push('WARNING: authentication is disabled (BILLING_DISABLE_AUTH)');
    lines.push(config.adminSecret ? 'Admin API: on' : 'Admin API: off (set BILLING_ADMIN_SECRET)');
    lines.push(
      config.orbWebhookSecret
        ? 'Orb webhook: on (POST /webhooks/orb)'
        : 'Orb webhook: off (set ORB_WEBHOOK_SECRET)',
    );
    if (generatedSecret) {
      const token = await signWorkerToken(secret, { ttlSeconds: 24 * 3600 });
      lines.push(
        '',
        'No BILLING_JWT_SECRET set: generated one for this run:',
        `  BILLING_JWT_SECRET=${secret}`,
        'Try it (the token is valid for 24 hours):',
        `  curl -s ${origin}/billing/limits -H 'tenant-id: org-456' -H 'x-plan-type: growth' -H 'Authorization: Bearer ${token}'`,
      );
    }
    lines.push(`API reference: ${origin}/docs`);
    console.log(lines.join('\n'));
  });

  const stop = (signal: NodeJS.Signals) => {
    console.log(`received ${signal}, closing`);
    server.close(() => {
      store.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
