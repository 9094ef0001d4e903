import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { admin, freshDataDir, run } from '../support/admin-cli.js';
import { ADMIN_SECRET, WORKER_SECRET } from '../support/harness.js';

describe('npm run admin on an embedded store of its own', () => {
  const env = {
    BILLING_DATA_DIR: freshDataDir(),
    BILLING_JWT_SECRET: WORKER_SECRET,
    BILLING_ADMIN_SECRET: ADMIN_SECRET,
  };

  it('creates a tenant with an override, changes one override only, and shows it', async () => {
    const created = await run(
      env,
      '--json',
      'tenant',
      'set',
      'org-cli',
      '--plan',
      'growth',
      '--customer',
      'cus_cli',
      '--deployments',
      '10',
    );
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({
      tenant_id: 'org-cli',
      customer_id: 'cus_cli',
      overrides: { deployments: 10 },
      limits: { deployments: 10, self_hosted_workers: null, plan_type: 'growth' },
    });
    const changed = await run(env, '--json', 'tenant', 'set', 'org-cli', '--workers', '3');
    expect(JSON.parse(changed.stdout).overrides).toEqual({ deployments: 10, self_hosted_workers: 3 });
    const inherited = await run(env, '--json', 'tenant', 'set', 'org-cli', '--deployments', 'inherit');
    expect(JSON.parse(inherited.stdout).limits).toEqual({
      deployments: 5,
      self_hosted_workers: 3,
      plan_type: 'growth',
    });
    const shown = await run(env, '--json', 'tenant', 'show', 'org-cli');
    expect(JSON.parse(shown.stdout)).toEqual(JSON.parse(inherited.stdout));
  }, 60_000);

  it('prints tables for people', async () => {
    await run(
      env,
      'tenant',
      'set',
      'org-table',
      '--plan',
      'growth',
      '--customer',
      'cus_table',
      '--workers',
      '3',
    );
    const shown = await run(env, 'tenant', 'show', 'org-table');
    expect(shown.stdout).toBe(
      [
        'tenant    org-table',
        'customer  cus_table',
        'plan      growth',
        '',
        'RESOURCE             LIMIT  SET BY    SOFT LIMIT',
        "deployments          5      plan      plan's",
        "self_hosted_workers  3      override  plan's",
        '',
      ].join('\n'),
    );
    const plans = await run(env, 'plan', 'list');
    expect(plans.stdout.split('\n').slice(0, 2)).toEqual([
      'PLAN        DEPLOYMENTS  SELF_HOSTED_WORKERS  SOFT LIMITS  ORB PLAN ID',
      'enterprise  unlimited    unlimited            -            enterprise',
    ]);
  }, 60_000);

  it('changes a plan, and says which argument is wrong with exit code 2', async () => {
    const set = await run(
      env,
      '--json',
      'plan',
      'set',
      'free',
      '--deployments',
      '2',
      '--workers',
      'unlimited',
    );
    expect(JSON.parse(set.stdout)).toMatchObject({
      plan_id: 'free',
      deployments: 2,
      self_hosted_workers: null,
    });
    const unknownPlan = await run(env, 'plan', 'set', 'gold', '--deployments', '2', '--workers', '2');
    expect(unknownPlan.code).toBe(2);
    expect(unknownPlan.stderr).toMatch(
      /^error: command-argument value 'gold' is invalid for argument 'plan'\. expected one of free, growth, enterprise\n/,
    );
    const negative = await run(env, 'tenant', 'set', 'org-cli', '--deployments', '-3');
    expect(negative.code).toBe(2);
    const tooMany = await run(env, 'plan', 'set', 'free', '--deployments', '2147483648');
    expect(tooMany.code).toBe(2);
    expect(tooMany.stderr).toContain('expected a whole number up to 1000000000 or "unlimited"');
    const notANumber = await run(env, 'tenant', 'set', 'org-cli', '--workers', 'lots');
    expect(notANumber.code).toBe(2);
    expect(notANumber.stderr).toContain(
      `argument 'lots' is invalid. expected a whole number up to 1000000000 or "unlimited" or "inherit"`,
    );
    const nothing = await run(env, 'plan', 'set', 'free');
    expect(nothing).toMatchObject({ code: 2, stdout: '' });
    expect(nothing.stderr).toMatch(
      /^error: give at least one of --deployments, --workers, --soft-deployments, --soft-workers, --orb-plan-id\n/,
    );
    const badCap = await run(env, 'plan', 'set', 'free', '--soft-deployments', 'inherit');
    expect(badCap.code).toBe(2);
    expect(badCap.stderr).toContain(
      `argument 'inherit' is invalid. expected a whole number up to 1000000000, "uncapped" or "none"`,
    );
    const controlCharacter = await run(env, 'plan', 'set', 'free', '--orb-plan-id', 'orb\u0001');
    expect(controlCharacter.code).toBe(2);
  }, 60_000);

  it('sets what it is given and keeps the rest: soft limits and the Orb plan id too', async () => {
    const json = async (...args: string[]) => {
      const result = await run(env, '--json', ...args);
      expect(result.stderr).toBe('');
      return JSON.parse(result.stdout);
    };
    expect(
      await json('plan', 'set', 'enterprise', '--soft-workers', '4', '--orb-plan-id', 'orb-ent-2026'),
    ).toEqual({
      plan_id: 'enterprise',
      deployments: null,
      self_hosted_workers: null,
      soft_limits: { self_hosted_workers: { overage_cap: 4 } },
      orb_external_plan_id: 'orb-ent-2026',
    });
    expect(
      await json('plan', 'set', 'enterprise', '--deployments', '50', '--soft-deployments', 'uncapped'),
    ).toEqual({
      plan_id: 'enterprise',
      deployments: 50,
      self_hosted_workers: null,
      soft_limits: { deployments: { overage_cap: null }, self_hosted_workers: { overage_cap: 4 } },
      orb_external_plan_id: 'orb-ent-2026',
    });
    const unmapped = await json(
      'plan',
      'set',
      'enterprise',
      '--soft-workers',
      'none',
      '--orb-plan-id',
      'none',
    );
    expect(unmapped).toMatchObject({
      soft_limits: { deployments: { overage_cap: null } },
      orb_external_plan_id: null,
    });

    await json(
      'tenant',
      'set',
      'org-soft',
      '--plan',
      'growth',
      '--soft-deployments',
      '2',
      '--soft-workers',
      'none',
    );
    const inherited = await json('tenant', 'set', 'org-soft', '--soft-deployments', 'inherit');
    expect(inherited.soft_limits).toEqual({ self_hosted_workers: null });

    const taken = await run(env, 'plan', 'set', 'free', '--orb-plan-id', 'orb-growth-x');
    expect(taken.code).toBe(0);
    const clash = await run(env, 'plan', 'set', 'growth', '--orb-plan-id', 'orb-growth-x');
    expect(clash).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'error: Orb plan id already mapped to free\n',
    });
  }, 60_000);

  it('answers a failed command with `error: …` and exit code 1, writing nothing', async () => {
    const newCustomerWithoutPlan = await run(env, 'tenant', 'set', 'org-nobody');
    expect(newCustomerWithoutPlan).toMatchObject({ code: 1, stdout: '' });
    expect(newCustomerWithoutPlan.stderr).toBe(
      'error: Customer org-nobody does not exist: --plan is required\n',
    );
    expect(await run(env, 'tenant', 'show', 'org-nobody')).toMatchObject({
      code: 1,
      stderr: 'error: Tenant not found\n',
    });
    const badConfig = await run({ ...env, BILLING_CACHE_TTL_MS: 'soon' }, 'plan', 'list');
    expect(badConfig.code).toBe(1);
    expect(badConfig.stderr).toMatch(/^error: Invalid configuration: BILLING_CACHE_TTL_MS/);
  }, 60_000);

  it('mints worker and admin tokens the service accepts', async () => {
    const worker = (await run(env, 'token', 'worker')).stdout.trim();
    const { payload } = await jwtVerify(worker, new TextEncoder().encode(WORKER_SECRET), {
      audience: 'worker',
    });
    expect(payload['ver']).toBe('1');
    const adminToken = (await run(env, 'token', 'admin', '--sub', 'carol', '--ttl', '60')).stdout.trim();
    const verified = await jwtVerify(adminToken, new TextEncoder().encode(ADMIN_SECRET), {
      audience: 'billing-admin',
    });
    expect(verified.payload.sub).toBe('carol');
    expect((verified.payload.exp ?? 0) - (verified.payload.iat ?? 0)).toBe(60);
    const blankSubject = await run(env, 'token', 'admin', '--sub', ' ');
    expect(blankSubject.code).toBe(2);
    expect(blankSubject.stderr).toContain('expected who you are: the audit log names it');
    const json = await run(env, '--json', 'token', 'worker');
    expect(Object.keys(JSON.parse(json.stdout))).toEqual(['token']);
    const noSecret = await run({ BILLING_DATA_DIR: env.BILLING_DATA_DIR }, 'token', 'admin');
    expect(noSecret).toMatchObject({ code: 1, stderr: 'error: set BILLING_ADMIN_SECRET\n' });
  }, 60_000);
});

describe('npm run admin as a program', () => {
  it('exits 0 on --help, 2 on a usage error, 1 on a failed command', async () => {
    const help = await admin({}, '--help');
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toContain('Usage: admin <command> [options]');
    const wrong = await admin({}, 'tenant', 'set', 'org-1', '--bogus');
    expect(wrong).toMatchObject({ code: 2, stdout: '' });
    expect(wrong.stderr).toContain('Usage: admin tenant set [options] <tenant>');
    const failed = await admin({ BILLING_DATA_DIR: freshDataDir() }, 'tenant', 'show', 'org-nobody');
    expect(failed).toMatchObject({ code: 1, stdout: '', stderr: 'error: Tenant not found\n' });
  }, 60_000);
});

describe('npm run admin --help', () => {
  it.each([
    [['--help'], 'Usage: admin <command> [options]', 'npm run admin -- plan list'],
    [['tenant', '--help'], 'Usage: admin tenant <command> [options]', 'clear-overrides <tenant>'],
    [
      ['tenant', 'set', '--help'],
      'Usage: admin tenant set [options] <tenant>',
      'npm run admin -- tenant set org-456 --deployments 9',
    ],
    [['plan', 'help', 'set'], 'Usage: admin plan set [options] <plan>', '--workers <limit>'],
  ])(
    '%j prints usage, options and an example on stdout, exit 0',
    async (args, usage, example) => {
      const result = await run({}, ...args);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(usage);
      expect(result.stdout).toContain(example);
      expect(result.stderr).toBe('');
    },
    30_000,
  );

  it.each([
    [
      ['tenant', 'set', 'org-1', '--bogus'],
      "error: unknown option '--bogus'",
      'Usage: admin tenant set [options] <tenant>',
    ],
    [['tenant', 'drop', 'org-1'], "error: unknown command 'drop'", 'Usage: admin tenant <command> [options]'],
    [['plan'], 'Usage: admin plan <command> [options]', 'set [options] <plan>'],
    [[], 'Usage: admin <command> [options]', 'Exit codes: 0 done, 1 the command failed, 2 a usage error.'],
    [
      ['tenant', 'show'],
      "error: missing required argument 'tenant'",
      'Usage: admin tenant show [options] <tenant>',
    ],
  ])(
    '%j prints what is wrong and that command’s usage on stderr, exit 2',
    async (args, problem, usage) => {
      const result = await run({}, ...args);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain(problem);
      expect(result.stderr).toContain(usage);
    },
    30_000,
  );
});
