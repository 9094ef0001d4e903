/**
 * The admin CLI's commands: plans, tenants and tokens. Beside a running server it writes through
 * the server's admin API; with no server it opens the store itself (see `connectAdmin`).
 * `--help` on any command says the rest. `admin.ts` runs it as a program.
 */
import { userInfo } from 'node:os';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { z } from 'zod';
import { signAdminToken } from '../auth/admin-token.js';
import { signWorkerToken } from '../auth/worker-token.js';
import { type BillingConfig, ConfigError, loadConfig } from '../config.js';
import { CustomerId, type LimitOverrides, PlanView, TenantView } from '../contract/admin.js';
import { TenantId } from '../contract/limits.js';
import { Limit, PlanType } from '../contract/plans.js';
import { runningServerOf } from '../db/data-dir-lock.js';
import { type AdminBackend, AdminFailure, connectAdmin } from './admin-backends.js';
import { plansTable, tenantTable } from './tables.js';

/** Where the CLI reads its settings and writes its output: the process's, or a test's. */
export interface AdminIo {
  env: Readonly<Record<string, string | undefined>>;
  out(text: string): void;
  err(text: string): void;
}

/** A command-line value checked by the contract's own schema, in commander's words when wrong. */
function checkedBy<T>(schema: z.ZodType<T>, expected: string) {
  return (value: string): T => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new InvalidArgumentError(expected);
    return parsed.data;
  };
}
const planArgument = checkedBy(PlanType, `expected one of ${PlanType.options.join(', ')}`);

/**
 * `10` → 10, `unlimited` → 'unlimited', for tenants `inherit` → 'inherit' (drop the override).
 * Words, not null: commander takes a parser's null for "no value".
 */
type LimitArgument = number | 'unlimited' | 'inherit';
function limitArgument(allowInherit: boolean) {
  const expected = `expected a whole number or "unlimited"${allowInherit ? ' or "inherit"' : ''}`;
  return (value: string): LimitArgument => {
    if (value === 'unlimited' || (value === 'inherit' && allowInherit)) return value;
    const limit = /^\d+$/.test(value) ? Limit.safeParse(Number(value)) : undefined;
    if (!limit?.success || limit.data === null) throw new InvalidArgumentError(expected);
    return limit.data;
  };
}
const limitOf = (argument: number | 'unlimited') => (argument === 'unlimited' ? null : argument);

function secondsArgument(value: string): number {
  if (!/^[1-9]\d{0,8}$/.test(value)) throw new InvalidArgumentError('expected a whole number of seconds');
  return Number(value);
}

interface GlobalOptions {
  json?: boolean;
  url?: string;
}

const WHERE_IT_WRITES = `
Where it writes:
  --url (or BILLING_URL) given   through that server's admin API
  DATABASE_URL set               on PostgreSQL directly (the running servers hear each write)
  a server holds the embedded    through that server's admin API (the server names itself
    store (BILLING_DATA_DIR)       in <data dir>.owner.json)
  otherwise                      on the embedded store directly, locked meanwhile
Through a server, the admin token is signed with BILLING_ADMIN_SECRET, or with the secret a
development server generated for its run. Writes are audited as cli:<your user name> either way.

Exit codes: 0 done, 1 the command failed, 2 a usage error.

Examples:
  npm run admin -- plan list
  npm run admin -- tenant set org-456 --deployments 9
  npm run admin -- --json tenant show org-456
  npm run admin -- tenant set --help`;

function program(io: AdminIo, config: () => BillingConfig): Command {
  const root = new Command('admin')
    .description('Plans, tenants and tokens of the billing limits service.')
    .usage('<command> [options]')
    .option('--json', 'print JSON instead of tables (for scripts)')
    .option('--url <url>', 'write through the server at this URL (default: BILLING_URL)')
    .addHelpText('after', WHERE_IT_WRITES)
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });

  const globals = () => root.opts<GlobalOptions>();
  /** One connection per command: opened, used, closed; the value printed as a table or as JSON. */
  async function withBackend<T>(use: (backend: AdminBackend) => Promise<T>, print: (value: T) => string) {
    const backend = await connectAdmin(config(), globals().url ?? io.env['BILLING_URL']);
    let value: T;
    try {
      value = await use(backend);
    } finally {
      await backend.close();
    }
    io.out(`${globals().json ? JSON.stringify(value, null, 2) : print(value)}\n`);
  }
  // Both paths' answers go through the contract's schemas: one shape (and key order) either way.
  const asPlan = (plan: PlanView) => PlanView.parse(plan);
  const asTenant = (tenant: TenantView) => TenantView.parse(tenant);

  const plan = root.command('plan').description('the plan catalog').usage('<command> [options]');
  plan
    .command('list')
    .description('every plan with its limits')
    .action(() => withBackend(async (admin) => (await admin.listPlans()).map(asPlan), plansTable));
  plan
    .command('set')
    .description("change a plan's limits (every tenant on it gets them at once)")
    .argument('<plan>', `one of ${PlanType.options.join(', ')}`, planArgument)
    .requiredOption('--deployments <limit>', 'a whole number or "unlimited"', limitArgument(false))
    .requiredOption(
      '--workers <limit>',
      'self-hosted workers: a whole number or "unlimited"',
      limitArgument(false),
    )
    .addHelpText(
      'after',
      '\nExample:\n  npm run admin -- plan set growth --deployments 10 --workers unlimited',
    )
    .action(
      (planId: PlanType, options: { deployments: number | 'unlimited'; workers: number | 'unlimited' }) =>
        withBackend(
          async (admin) =>
            asPlan(
              await admin.setPlan(planId, {
                deployments: limitOf(options.deployments),
                self_hosted_workers: limitOf(options.workers),
              }),
            ),
          (view) => plansTable([view]),
        ),
    );

  const tenant = root
    .command('tenant')
    .description("tenants' plans, customers and overrides")
    .usage('<command> [options]');
  const tenantArgument = [
    '<tenant>',
    'the tenant id',
    checkedBy(TenantId, 'expected a tenant id (1-255 characters)'),
  ] as const;
  tenant
    .command('show')
    .description("a tenant's plan, overrides and effective limits")
    .argument(...tenantArgument)
    .addHelpText('after', '\nExample:\n  npm run admin -- tenant show org-456')
    .action((tenantId: string) =>
      withBackend(async (admin) => asTenant(await admin.showTenant(tenantId)), tenantTable),
    );
  tenant
    .command('set')
    .description('create or change a tenant: only what is given changes')
    .argument(...tenantArgument)
    .option('--plan <plan>', "its customer's plan (required for a new customer)", planArgument)
    .option(
      '--customer <id>',
      'its billing account (the Orb external customer id)',
      checkedBy(CustomerId, 'expected a customer id (1-255 characters, no control characters)'),
    )
    .option(
      '--deployments <limit>',
      'override: a whole number, "unlimited", or "inherit" (the plan\'s)',
      limitArgument(true),
    )
    .option('--workers <limit>', 'override of self-hosted workers: likewise', limitArgument(true))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  npm run admin -- tenant set org-456 --deployments 9\n' +
        '  npm run admin -- tenant set org-1 --plan growth --customer cus_42 --workers inherit',
    )
    .action(
      (
        tenantId: string,
        options: { plan?: PlanType; customer?: string; deployments?: LimitArgument; workers?: LimitArgument },
      ) =>
        withBackend(async (admin) => {
          let overrides: LimitOverrides | undefined;
          if (options.deployments !== undefined || options.workers !== undefined) {
            // The flags change only the overrides they name; the others stay as they are.
            const current = await admin.showTenant(tenantId).then(
              (view) => view.overrides,
              (error: unknown) => {
                if (error instanceof AdminFailure && error.message === 'Tenant not found') return {};
                throw error;
              },
            );
            overrides = { ...current };
            for (const [value, key] of [
              [options.deployments, 'deployments'],
              [options.workers, 'self_hosted_workers'],
            ] as const) {
              if (value === 'inherit') delete overrides[key];
              else if (value !== undefined) overrides[key] = limitOf(value);
            }
          }
          const update = { plan_id: options.plan, customer_id: options.customer, overrides };
          return asTenant(await admin.putTenant(tenantId, update));
        }, tenantTable),
    );
  tenant
    .command('clear-overrides')
    .description("drop a tenant's overrides: it inherits its plan again")
    .argument(...tenantArgument)
    .action((tenantId: string) =>
      withBackend(async (admin) => asTenant(await admin.clearOverrides(tenantId)), tenantTable),
    );

  const token = root.command('token').description('mint tokens for local use').usage('<command> [options]');
  const ttl = () => new Option('--ttl <seconds>', 'lifetime').default(3600).argParser(secondsArgument);
  const printToken = (value: string) =>
    io.out(`${globals().json ? JSON.stringify({ token: value }) : value}\n`);
  /** The configured secret, else the one the development server running on the embedded store generated. */
  const secretOf = (configured: string | undefined, generated: 'jwt_secret' | 'admin_secret') => {
    const current = config();
    if (configured || current.databaseUrl) return configured;
    return runningServerOf(current.dataDir)?.[generated];
  };
  token
    .command('worker')
    .description(
      "a worker token (the Engine's), signed with BILLING_JWT_SECRET or the running development server's",
    )
    .addOption(ttl())
    .action(async (options: { ttl: number }) => {
      const secret = secretOf(config().jwtSecret, 'jwt_secret');
      if (!secret) throw new AdminFailure('set BILLING_JWT_SECRET (the server prints the one it generated)');
      printToken(await signWorkerToken(secret, { ttlSeconds: options.ttl }));
    });
  token
    .command('admin')
    .description("an admin token, signed with BILLING_ADMIN_SECRET or the running development server's")
    .option('--sub <who>', 'who the audit log names', userInfo().username)
    .addOption(ttl())
    .addHelpText('after', '\nExample:\n  ADMIN=$(npm run -s admin -- token admin --sub alice)')
    .action(async (options: { sub: string; ttl: number }) => {
      const secret = secretOf(config().adminSecret, 'admin_secret');
      if (!secret) throw new AdminFailure('set BILLING_ADMIN_SECRET');
      printToken(await signAdminToken(secret, { subject: options.sub, ttlSeconds: options.ttl }));
    });
  return root;
}

/** Runs one command line; resolves with its exit code: 0 done, 1 the command failed (`error: …`), 2 a usage error. */
export async function runAdmin(argv: readonly string[], io: AdminIo): Promise<number> {
  let config: BillingConfig | undefined;
  const cli = program(io, () => (config ??= loadConfig(io.env)));
  if (argv.length === 0) {
    cli.outputHelp({ error: true });
    return 2;
  }
  try {
    await cli.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    const expected = error instanceof AdminFailure || error instanceof ConfigError;
    io.err(
      expected ? `error: ${(error as Error).message}\n` : `${(error as Error).stack ?? String(error)}\n`,
    );
    return 1;
  }
}
