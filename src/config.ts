import { z } from 'zod';
import { PlanType } from './contract/plans.js';
import { LOG_LEVELS } from './telemetry/logger.js';

/** Empty strings count as unset, so `FOO=` in a .env file means "use the default". */
const unsetIfEmpty = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === '' ? undefined : value), schema);

const optionalString = unsetIfEmpty(z.string().optional());
const flag = unsetIfEmpty(
  z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((value) => value === 'true' || value === '1'),
);
const postgresUrl = unsetIfEmpty(
  z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
);
const integer = (fallback: number, min: number, max: number) =>
  unsetIfEmpty(z.coerce.number().int().min(min).max(max).default(fallback));

/** Shortest worker-token secret accepted in production: HS256 wants at least its 256-bit output size. */
export const MIN_SECRET_BYTES = 32;

const EnvSchema = z
  .object({
    NODE_ENV: unsetIfEmpty(z.enum(['development', 'test', 'production']).default('development')),
    PORT: integer(8000, 0, 65_535),
    HOST: optionalString.transform((value) => value ?? '127.0.0.1'),
    BILLING_JWT_SECRET: optionalString,
    BILLING_DISABLE_AUTH: flag,
    BILLING_PLAN_SOURCE: unsetIfEmpty(z.enum(['database', 'header']).default('database')),
    DATABASE_URL: postgresUrl,
    BILLING_LISTEN_DATABASE_URL: postgresUrl,
    BILLING_DATABASE_PREPARE: unsetIfEmpty(
      z
        .enum(['true', 'false', '1', '0'])
        .default('true')
        .transform((value) => value === 'true' || value === '1'),
    ),
    BILLING_DATA_DIR: optionalString.transform((value) => value ?? './.data/pglite'),
    BILLING_SEED_DEMO: unsetIfEmpty(z.enum(['true', 'false', '1', '0']).optional()),
    BILLING_ADMIN_SECRET: optionalString,
    BILLING_CACHE_TTL_MS: integer(300_000, 0, 86_400_000),
    BILLING_CACHE_MAX_ENTRIES: integer(100_000, 1, 10_000_000),
    ORB_WEBHOOK_SECRET: optionalString,
    ORB_DEFAULT_PLAN: unsetIfEmpty(PlanType.default('free')),
    BILLING_CLOCK_TOLERANCE_SECONDS: integer(0, 0, 300),
    BILLING_TOKEN_CACHE_SIZE: integer(10_000, 0, 1_000_000),
    LOG_LEVEL: unsetIfEmpty(z.enum(LOG_LEVELS).default('info')),
    BILLING_METRICS_PORT: unsetIfEmpty(z.coerce.number().int().min(0).max(65_535).optional()),
    BILLING_METRICS_HOST: optionalString,
    OTEL_EXPORTER_OTLP_ENDPOINT: unsetIfEmpty(
      z
        .string()
        .regex(/^https?:\/\//, 'must be an http:// or https:// URL')
        .optional(),
    ),
    OTEL_SERVICE_NAME: optionalString.transform((value) => value ?? 'billing-limits-service'),
    BILLING_REQUEST_TIMEOUT_MS: integer(10_000, 0, 600_000),
    BILLING_STORE_TIMEOUT_MS: integer(2_000, 0, 600_000),
    BILLING_STALE_MAX_MS: integer(900_000, 0, 86_400_000),
    BILLING_MAX_HEADER_BYTES: integer(16_384, 1_024, 1_048_576),
    BILLING_SHUTDOWN_DELAY_MS: integer(0, 0, 300_000),
    BILLING_SHUTDOWN_TIMEOUT_MS: integer(10_000, 0, 600_000),
    BILLING_LEASE_SWEEP_MS: integer(1_000, 0, 5_000),
    BILLING_WEBHOOK_ALLOW_PRIVATE: flag,
    BILLING_EVENT_RETENTION_DAYS: integer(7, 1, 3_650),
    BILLING_ALERT_WARNING_PERCENT: integer(80, 1, 100),
    BILLING_ALERT_HYSTERESIS_PERCENT: integer(10, 0, 99),
  })
  .superRefine((env, ctx) => {
    const refuse = (variable: string, message: string) =>
      ctx.addIssue({ code: 'custom', path: [variable], message });
    // Set alone it would be ignored: the embedded store has no LISTEN connection to move.
    if (env.BILLING_LISTEN_DATABASE_URL && !env.DATABASE_URL) {
      refuse('BILLING_LISTEN_DATABASE_URL', "needs DATABASE_URL (it only moves PostgreSQL's LISTEN)");
    }
    // Else `limit.resolved` would come before the warning it resolves, or never.
    if (env.BILLING_ALERT_HYSTERESIS_PERCENT >= env.BILLING_ALERT_WARNING_PERCENT) {
      refuse(
        'BILLING_ALERT_HYSTERESIS_PERCENT',
        `must be less than BILLING_ALERT_WARNING_PERCENT (${env.BILLING_ALERT_WARNING_PERCENT})`,
      );
    }
    if (env.NODE_ENV !== 'production') return;
    if (env.BILLING_DISABLE_AUTH) refuse('BILLING_DISABLE_AUTH', 'must not be set in production');
    if (!env.BILLING_JWT_SECRET) refuse('BILLING_JWT_SECRET', 'is required in production');
    for (const variable of ['BILLING_JWT_SECRET', 'BILLING_ADMIN_SECRET'] as const) {
      const secret = env[variable];
      if (secret && Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
        refuse(variable, `must be at least ${MIN_SECRET_BYTES} bytes in production`);
      }
    }
  })
  // The one place a variable becomes a setting: the config type is this schema's output.
  .transform((e) => ({
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    /** Unset only outside production; the server then generates one for the session. */
    jwtSecret: e.BILLING_JWT_SECRET,
    disableAuth: e.BILLING_DISABLE_AUTH,
    planSource: e.BILLING_PLAN_SOURCE,
    /** PostgreSQL; unset = embedded PGlite under `dataDir`. */
    databaseUrl: e.DATABASE_URL,
    /** A direct (session) connection used only for `LISTEN`, when `databaseUrl` goes through a transaction pooler. */
    listenDatabaseUrl: e.BILLING_LISTEN_DATABASE_URL,
    /** Prepared statements on PostgreSQL; off behind PgBouncer < 1.21 in transaction mode. */
    databasePrepare: e.BILLING_DATABASE_PREPARE,
    dataDir: e.BILLING_DATA_DIR,
    /** Seed the demo tenants once; defaults to on for PGlite, off for PostgreSQL. */
    seedDemo:
      e.BILLING_SEED_DEMO === undefined
        ? !e.DATABASE_URL
        : e.BILLING_SEED_DEMO === 'true' || e.BILLING_SEED_DEMO === '1',
    adminSecret: e.BILLING_ADMIN_SECRET,
    cacheTtlMs: e.BILLING_CACHE_TTL_MS,
    cacheMaxEntries: e.BILLING_CACHE_MAX_ENTRIES,
    /** Orb webhook signing secret; the webhook route is off without it. */
    orbWebhookSecret: e.ORB_WEBHOOK_SECRET,
    orbDefaultPlan: e.ORB_DEFAULT_PLAN,
    clockToleranceSeconds: e.BILLING_CLOCK_TOLERANCE_SECONDS,
    tokenCacheSize: e.BILLING_TOKEN_CACHE_SIZE,
    logLevel: e.LOG_LEVEL,
    /** Metrics on a listener of their own; unset = `GET /metrics` on the main port. */
    metricsPort: e.BILLING_METRICS_PORT,
    metricsHost: e.BILLING_METRICS_HOST ?? e.HOST,
    /** OTLP/HTTP collector for traces; unset = no tracing. */
    otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
    serviceName: e.OTEL_SERVICE_NAME,
    /** Receiving a request (else 408) and answering it (else 503) may each take this long; 0 = no limit. */
    requestTimeoutMs: e.BILLING_REQUEST_TIMEOUT_MS,
    /** A limits read waits this long for the store before answering from memory (stale) or 503; 0 = no limit. */
    storeTimeoutMs: e.BILLING_STORE_TIMEOUT_MS,
    /**
     * During a store outage: how old (since read from the store) a cached answer may be and still be
     * served, and how long after the store last answered `/readyz` stays 200 degraded; 0 = no limit.
     */
    staleMaxMs: e.BILLING_STALE_MAX_MS,
    /** Request line and headers together; larger requests get 431. */
    maxHeaderBytes: e.BILLING_MAX_HEADER_BYTES,
    /** On SIGTERM: how long to keep serving while `/readyz` says 503, before closing the listener. */
    shutdownDelayMs: e.BILLING_SHUTDOWN_DELAY_MS,
    /** On SIGTERM: how long in-flight requests may take to finish before their connections are cut. */
    shutdownTimeoutMs: e.BILLING_SHUTDOWN_TIMEOUT_MS,
    /**
     * How often this replica releases leases that ran out (ms): an unrenewed lease is released
     * within this long of its end, plus the sweep's own time; 0 = this replica does not sweep.
     */
    leaseSweepMs: e.BILLING_LEASE_SWEEP_MS,
    /**
     * Outbound webhook URLs may be (or resolve to) loopback, private, link-local and metadata
     * addresses: off by default, so that an admin token cannot aim the service at its own network.
     */
    webhookAllowPrivate: e.BILLING_WEBHOOK_ALLOW_PRIVATE,
    /**
     * How long sent events are kept (days): older ones, and their deliveries, are deleted once none
     * of their deliveries is still pending.
     */
    eventRetentionDays: e.BILLING_EVENT_RETENTION_DAYS,
    /**
     * Threshold alerts: `limit.warning` at this share of a finite limit (%), `limit.resolved` once
     * usage falls below it minus `alertHysteresisPercent`. Written to the database at start: every
     * replica should run with the same values (the last one started wins).
     */
    alertWarningPercent: e.BILLING_ALERT_WARNING_PERCENT,
    alertHysteresisPercent: e.BILLING_ALERT_HYSTERESIS_PERCENT,
  }));

/** The service's settings, read from the environment by `loadConfig`. */
export type BillingConfig = z.output<typeof EnvSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads the environment once, validated; the only place `process.env` is read. Throws one readable line. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Readonly<BillingConfig> {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  return Object.freeze(parsed.data);
}
