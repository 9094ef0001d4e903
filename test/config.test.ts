import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const SECRET = 'a-worker-secret-that-is-long-enough-32b';

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
      dataDir: './.data/pglite',
      seedDemo: true,
      adminSecret: undefined,
      cacheTtlMs: 300_000,
      orbWebhookSecret: undefined,
      orbDefaultPlan: 'free',
      clockToleranceSeconds: 0,
      tokenCacheSize: 10_000,
    });
  });

  it('seeds the demo tenants by default on PGlite only', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://db/billing' }).seedDemo).toBe(false);
    expect(loadConfig({ DATABASE_URL: 'postgres://db/billing', BILLING_SEED_DEMO: 'true' }).seedDemo).toBe(
      true,
    );
    expect(loadConfig({ BILLING_SEED_DEMO: '0' }).seedDemo).toBe(false);
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
    [{ BILLING_CACHE_TTL_MS: 'soon' }, 'BILLING_CACHE_TTL_MS'],
    [{ BILLING_SEED_DEMO: 'maybe' }, 'BILLING_SEED_DEMO'],
    [{ ORB_DEFAULT_PLAN: 'gold' }, 'ORB_DEFAULT_PLAN'],
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
