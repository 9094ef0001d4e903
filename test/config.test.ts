import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { WORKER_SECRET as SECRET } from './support/harness.js';

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    expect(loadConfig({})).toEqual({
      nodeEnv: 'development',
      port: 8000,
      host: '127.0.0.1',
      jwtSecret: undefined,
      disableAuth: false,
      planSource: 'database',
      databaseUrl: undefined,
      listenDatabaseUrl: undefined,
      databasePrepare: true,
      dataDir: './.data/pglite',
      seedDemo: true,
      adminSecret: undefined,
      cacheTtlMs: 300_000,
      cacheMaxEntries: 100_000,
      orbWebhookSecret: undefined,
      orbDefaultPlan: 'free',
      clockToleranceSeconds: 0,
      tokenCacheSize: 10_000,
      logLevel: 'info',
      metricsPort: undefined,
      metricsHost: '127.0.0.1',
      otlpEndpoint: undefined,
      serviceName: 'billing-limits-service',
      requestTimeoutMs: 10_000,
      storeTimeoutMs: 2_000,
      staleMaxMs: 900_000,
      maxHeaderBytes: 16_384,
      shutdownDelayMs: 0,
      shutdownTimeoutMs: 10_000,
      leaseSweepMs: 1_000,
      webhookAllowPrivate: false,
      eventRetentionDays: 7,
      alertWarningPercent: 80,
      alertHysteresisPercent: 10,
    });
  });

  it('seeds the demo tenants by default on PGlite only', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://db/billing' }).seedDemo).toBe(false);
    expect(loadConfig({ DATABASE_URL: 'postgres://db/billing', BILLING_SEED_DEMO: 'true' }).seedDemo).toBe(
      true,
    );
    expect(loadConfig({ BILLING_SEED_DEMO: '0' }).seedDemo).toBe(false);
  });

  it('reads the connection-pooler variables: a LISTEN URL of its own, prepared statements on by default', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://pgbouncer:6432/billing' })).toMatchObject({
      listenDatabaseUrl: undefined,
      databasePrepare: true,
    });
    expect(
      loadConfig({
        DATABASE_URL: 'postgres://pgbouncer:6432/billing',
        BILLING_LISTEN_DATABASE_URL: 'postgresql://db:5432/billing',
        BILLING_DATABASE_PREPARE: 'false',
      }),
    ).toMatchObject({ listenDatabaseUrl: 'postgresql://db:5432/billing', databasePrepare: false });
    expect(loadConfig({ BILLING_DATABASE_PREPARE: '0' }).databasePrepare).toBe(false);
    expect(loadConfig({ BILLING_DATABASE_PREPARE: '' }).databasePrepare).toBe(true);
  });

  it('accepts header mode and a PostgreSQL URL', () => {
    expect(
      loadConfig({ BILLING_PLAN_SOURCE: 'header', DATABASE_URL: 'postgresql://u@h:5432/d' }),
    ).toMatchObject({
      planSource: 'header',
      databaseUrl: 'postgresql://u@h:5432/d',
    });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      PORT: '9000',
      HOST: '0.0.0.0',
      BILLING_JWT_SECRET: SECRET,
      BILLING_DISABLE_AUTH: 'false',
      BILLING_PLAN_SOURCE: 'header',
      BILLING_CLOCK_TOLERANCE_SECONDS: '5',
      BILLING_TOKEN_CACHE_SIZE: '0',
    });
    expect(config).toMatchObject({
      port: 9000,
      host: '0.0.0.0',
      jwtSecret: SECRET,
      clockToleranceSeconds: 5,
    });
    expect(config.tokenCacheSize).toBe(0);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads the operations variables', () => {
    expect(
      loadConfig({
        HOST: '0.0.0.0',
        LOG_LEVEL: 'debug',
        BILLING_METRICS_PORT: '9464',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_SERVICE_NAME: 'billing-eu',
        BILLING_REQUEST_TIMEOUT_MS: '2500',
        BILLING_STORE_TIMEOUT_MS: '750',
        BILLING_STALE_MAX_MS: '60000',
        BILLING_MAX_HEADER_BYTES: '8192',
        BILLING_SHUTDOWN_DELAY_MS: '5000',
        BILLING_SHUTDOWN_TIMEOUT_MS: '20000',
        BILLING_CACHE_MAX_ENTRIES: '2500',
        BILLING_LEASE_SWEEP_MS: '250',
        BILLING_WEBHOOK_ALLOW_PRIVATE: 'true',
        BILLING_EVENT_RETENTION_DAYS: '30',
      }),
    ).toMatchObject({
      logLevel: 'debug',
      metricsPort: 9464,
      metricsHost: '0.0.0.0',
      otlpEndpoint: 'http://collector:4318',
      serviceName: 'billing-eu',
      requestTimeoutMs: 2500,
      storeTimeoutMs: 750,
      staleMaxMs: 60_000,
      maxHeaderBytes: 8192,
      shutdownDelayMs: 5000,
      shutdownTimeoutMs: 20_000,
      cacheMaxEntries: 2_500,
      leaseSweepMs: 250,
      webhookAllowPrivate: true,
      eventRetentionDays: 30,
    });
    expect(loadConfig({ BILLING_EVENT_RETENTION_DAYS: '1' }).eventRetentionDays).toBe(1);
    expect(loadConfig({ BILLING_EVENT_RETENTION_DAYS: '3650' }).eventRetentionDays).toBe(3_650);
    for (const refused of ['0', '3651', '1.5']) {
      expect(() => loadConfig({ BILLING_EVENT_RETENTION_DAYS: refused })).toThrow(
        /BILLING_EVENT_RETENTION_DAYS/,
      );
    }
    expect(loadConfig({ BILLING_WEBHOOK_ALLOW_PRIVATE: '1' }).webhookAllowPrivate).toBe(true);
    expect(() => loadConfig({ BILLING_WEBHOOK_ALLOW_PRIVATE: 'yes' })).toThrow(
      /BILLING_WEBHOOK_ALLOW_PRIVATE/,
    );
    expect(loadConfig({ BILLING_LEASE_SWEEP_MS: '0' }).leaseSweepMs).toBe(0);
    expect(loadConfig({ BILLING_LEASE_SWEEP_MS: '5000' }).leaseSweepMs).toBe(5_000);
    expect(loadConfig({ BILLING_CACHE_MAX_ENTRIES: '1' }).cacheMaxEntries).toBe(1);
    expect(loadConfig({ BILLING_CACHE_MAX_ENTRIES: '10000000' }).cacheMaxEntries).toBe(10_000_000);
    expect(loadConfig({ BILLING_METRICS_PORT: '9464', BILLING_METRICS_HOST: '10.0.0.5' }).metricsHost).toBe(
      '10.0.0.5',
    );
  });

  it('reads the alert thresholds: warning 1–100 %, hysteresis 0 to one below the warning', () => {
    expect(
      loadConfig({ BILLING_ALERT_WARNING_PERCENT: '50', BILLING_ALERT_HYSTERESIS_PERCENT: '20' }),
    ).toMatchObject({ alertWarningPercent: 50, alertHysteresisPercent: 20 });
    expect(loadConfig({ BILLING_ALERT_WARNING_PERCENT: '100' }).alertWarningPercent).toBe(100);
    expect(
      loadConfig({ BILLING_ALERT_WARNING_PERCENT: '1', BILLING_ALERT_HYSTERESIS_PERCENT: '0' }),
    ).toMatchObject({ alertWarningPercent: 1, alertHysteresisPercent: 0 });
    expect(
      loadConfig({ BILLING_ALERT_WARNING_PERCENT: '90', BILLING_ALERT_HYSTERESIS_PERCENT: '89' })
        .alertHysteresisPercent,
    ).toBe(89);
    for (const refused of ['0', '101', '79.5', 'eighty']) {
      expect(() => loadConfig({ BILLING_ALERT_WARNING_PERCENT: refused })).toThrow(
        /BILLING_ALERT_WARNING_PERCENT/,
      );
    }
    for (const refused of ['-1', '100', '2.5']) {
      expect(() => loadConfig({ BILLING_ALERT_HYSTERESIS_PERCENT: refused })).toThrow(
        /BILLING_ALERT_HYSTERESIS_PERCENT/,
      );
    }
    // Not below the warning level: refused, saying what it must be less than.
    expect(() => loadConfig({ BILLING_ALERT_HYSTERESIS_PERCENT: '80' })).toThrow(
      new ConfigError(
        'Invalid configuration: BILLING_ALERT_HYSTERESIS_PERCENT must be less than BILLING_ALERT_WARNING_PERCENT (80)',
      ),
    );
    expect(() =>
      loadConfig({ BILLING_ALERT_WARNING_PERCENT: '30', BILLING_ALERT_HYSTERESIS_PERCENT: '' }),
    ).not.toThrow();
    expect(() =>
      loadConfig({ BILLING_ALERT_WARNING_PERCENT: '5', BILLING_ALERT_HYSTERESIS_PERCENT: '' }),
    ).toThrow(/BILLING_ALERT_HYSTERESIS_PERCENT must be less than BILLING_ALERT_WARNING_PERCENT \(5\)/);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ PORT: '', BILLING_JWT_SECRET: '', BILLING_DISABLE_AUTH: '' })).toMatchObject({
      port: 8000,
      jwtSecret: undefined,
      disableAuth: false,
    });
  });

  it.each([
    ['true', true],
    ['1', true],
    ['false', false],
    ['0', false],
  ])('reads BILLING_DISABLE_AUTH=%s as %s', (value, expected) => {
    expect(loadConfig({ BILLING_DISABLE_AUTH: value }).disableAuth).toBe(expected);
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ BILLING_DISABLE_AUTH: 'yes' }, 'BILLING_DISABLE_AUTH'],
    [{ BILLING_PLAN_SOURCE: 'cookie' }, 'BILLING_PLAN_SOURCE'],
    [{ BILLING_CLOCK_TOLERANCE_SECONDS: '-1' }, 'BILLING_CLOCK_TOLERANCE_SECONDS'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV'],
    [{ DATABASE_URL: 'mysql://db' }, 'DATABASE_URL'],
    [{ BILLING_LISTEN_DATABASE_URL: 'db:5432' }, 'BILLING_LISTEN_DATABASE_URL'],
    [
      { BILLING_LISTEN_DATABASE_URL: 'postgres://db:5432/billing' },
      'BILLING_LISTEN_DATABASE_URL needs DATABASE_URL',
    ],
    [{ BILLING_DATABASE_PREPARE: 'off' }, 'BILLING_DATABASE_PREPARE'],
    [{ BILLING_STALE_MAX_MS: '-1' }, 'BILLING_STALE_MAX_MS'],
    [{ BILLING_STALE_MAX_MS: '86400001' }, 'BILLING_STALE_MAX_MS'],
    [{ BILLING_CACHE_TTL_MS: 'soon' }, 'BILLING_CACHE_TTL_MS'],
    [{ BILLING_CACHE_MAX_ENTRIES: '0' }, 'BILLING_CACHE_MAX_ENTRIES'],
    [{ BILLING_CACHE_MAX_ENTRIES: '10000001' }, 'BILLING_CACHE_MAX_ENTRIES'],
    [{ BILLING_SEED_DEMO: 'maybe' }, 'BILLING_SEED_DEMO'],
    [{ ORB_DEFAULT_PLAN: 'gold' }, 'ORB_DEFAULT_PLAN'],
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL'],
    [{ BILLING_METRICS_PORT: 'metrics' }, 'BILLING_METRICS_PORT'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT'],
    [{ BILLING_REQUEST_TIMEOUT_MS: '-5' }, 'BILLING_REQUEST_TIMEOUT_MS'],
    [{ BILLING_STORE_TIMEOUT_MS: 'soon' }, 'BILLING_STORE_TIMEOUT_MS'],
    [{ BILLING_MAX_HEADER_BYTES: '10' }, 'BILLING_MAX_HEADER_BYTES'],
    [{ BILLING_SHUTDOWN_TIMEOUT_MS: 'forever' }, 'BILLING_SHUTDOWN_TIMEOUT_MS'],
    [{ BILLING_SHUTDOWN_DELAY_MS: '1e9' }, 'BILLING_SHUTDOWN_DELAY_MS'],
    // Past 5 s an unrenewed lease could outlive its end by more than the 5 s promised.
    [{ BILLING_LEASE_SWEEP_MS: '5001' }, 'BILLING_LEASE_SWEEP_MS'],
    [{ BILLING_LEASE_SWEEP_MS: '-1' }, 'BILLING_LEASE_SWEEP_MS'],
    [{ BILLING_LEASE_SWEEP_MS: 'often' }, 'BILLING_LEASE_SWEEP_MS'],
  ])('refuses %o with one line naming %s', (env, variable) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(new RegExp(`^Invalid configuration: ${variable} `));
    try {
      loadConfig(env);
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('\n');
    }
  });

  describe('in production', () => {
    it('requires a secret', () => {
      expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(
        'Invalid configuration: BILLING_JWT_SECRET is required in production',
      );
    });

    it('refuses a secret shorter than 32 bytes', () => {
      expect(() => loadConfig({ NODE_ENV: 'production', BILLING_JWT_SECRET: 'short' })).toThrow(
        'BILLING_JWT_SECRET must be at least 32 bytes in production',
      );
    });

    it('refuses to run with authentication disabled', () => {
      expect(() =>
        loadConfig({ NODE_ENV: 'production', BILLING_JWT_SECRET: SECRET, BILLING_DISABLE_AUTH: 'true' }),
      ).toThrow('BILLING_DISABLE_AUTH must not be set in production');
    });

    it('refuses an admin secret shorter than 32 bytes', () => {
      expect(() =>
        loadConfig({ NODE_ENV: 'production', BILLING_JWT_SECRET: SECRET, BILLING_ADMIN_SECRET: 'short' }),
      ).toThrow('BILLING_ADMIN_SECRET must be at least 32 bytes in production');
    });

    it('accepts a 32-byte secret', () => {
      expect(
        loadConfig({ NODE_ENV: 'production', BILLING_JWT_SECRET: 'x'.repeat(32) }).jwtSecret,
      ).toHaveLength(32);
    });
  });

  it('lets development run without a secret (the server generates one)', () => {
    expect(loadConfig({ NODE_ENV: 'development' }).jwtSecret).toBeUndefined();
  });
});
