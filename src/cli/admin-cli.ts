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
import {
  CustomerId,
  type LimitOverrides,
  OrbExternalPlanId,
  type PlanUpdate,
  PlanView,
  SoftLimit,
  TenantView,
} from '../contract/admin.js';
import { TenantId } from '../contract/limits.js';
import { Limit, MAX_COUNT, PlanType } from '../contract/plans.js';
import type { Resource } from '../contract/usage.js';
import { runningServerOf } from '../db/data-dir-lock.js';
import { readDevSecrets } from '../dev-secrets.js';
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
  const expected = `expected a whole number up to ${MAX_COUNT} or "unlimited"${allowInherit ? ' or "inherit"' : ''}`;
  return (value: string): LimitArgument => {
    if (value === 'unlimited' || (value === 'inherit' && allowInherit)) return value;
    const limit = /^\d+$/.test(value) ? Limit.safeParse(Number(value)) : undefined;
    if (!limit?.success || limit.data === null) throw new InvalidArgumentError(expected);
    return limit.data;
  };
}
const limitOf = (argument: number | 'unlimited') => (argument === 'unlimited' ? null : argument);

/**
 * A soft limit on the command line: `3` (soft, up to 3 units of overage), `uncapped` (soft, no
 * cap), `none` (hard); for tenants also `inherit` (the plan's policy).
 */
type SoftArgument = number | 'uncapped' | 'none' | 'inherit';
const SOFT_HELP = 'soft limit: overage cap (a whole number), "uncapped", or "none" (hard)';
function softArgument(allowInherit: boolean) {
  const expected = `expected a whole number up to ${MAX_COUNT}, "uncapped" or "none"${allowInherit ? ' or "inherit"' : ''}`;
  return (value: string): SoftArgument => {
    if (value === 'uncapped' || value === 'none' || (value === 'inherit' && allowInherit)) return value;
    const cap = /^\d+$/.test(value) ? SoftLimit.shape.overage_cap.safeParse(Number(value)) : undefined;
    if (!cap?.success || cap.data === null) throw new InvalidArgumentError(expected);
    return cap.data;
  };
}
interface SoftOptions {
  softDeployments?: SoftArgument;
  softWorkers?: SoftArgument;
}
interface PlanSetOptions extends SoftOptions {
  deployments?: number | 'unlimited';
  workers?: number | 'unlimited';
  orbPlanId?: string;
}

/**
 * Soft-limit policies with the flags applied. On a plan a resource left out is hard, so `none`
 * drops it; on a tenant `none` is an explicit `null` (hard whatever the plan says) and `inherit`
 * drops it (the plan's policy).
 */
function withSoftLimits<Policies extends Partial<Record<Resource, SoftLimit | null>>>(
  current: Policies,
  options: SoftOptions,
  hard: 'left out' | 'null',
): Policies {
  const next: Partial<Record<Resource, SoftLimit | null>> = { ...current };
  for (const [value, resource] of [
    [options.softDeployments, 'deployments'],
    [options.softWorkers, 'self_hosted_workers'],
  ] as const) {
    if (value === undefined) continue;
    if (value === 'inherit') delete next[resource];
    else if (value === 'none') {
      if (hard === 'null') next[resource] = null;
      else delete next[resource];
    } else next[resource] = { overage_cap: value === 'uncapped' ? null : value };
  }
  return next as Policies;
}

function subjectArgument(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('expected who you are: the audit log names it');
  return value;
}

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
    .description('change a plan (every tenant on it gets it at once); what is not given stays')
    .argument('<plan>', `one of ${PlanType.options.join(', ')}`, planArgument)
    .option('--deployments <limit>', 'a whole number or "unlimited"', limitArgument(false))
    .option('--workers <limit>', 'self-hosted workers: a whole number or "unlimited"', limitArgument(false))
    .option('--soft-deployments <cap>', SOFT_HELP, softArgument(false))
    .option('--soft-workers <cap>', 'the same for self-hosted workers', softArgument(false))
    .option(
      '--orb-plan-id <id>',
      'the Orb plan (its external_plan_id) whose subscriptions put customers on this plan; "none" unmaps it',
      (value: string) =>
        value === 'none'
          ? 'none'
          : checkedBy(
              OrbExternalPlanId,
              'expected an Orb plan id (1-255 characters, no control characters) or "none"',
            )(value),
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  npm run admin -- plan set growth --deployments 10 --workers unlimited\n' +
        '  npm run admin -- plan set growth --soft-deployments 3 --orb-plan-id orb-growth',
    )
    .action((planId: PlanType, options: PlanSetOptions, command: Command) => {
      if (Object.keys(options).length === 0) {
        command.error(
          'error: give at least one of --deployments, --workers, --soft-deployments, --soft-workers, --orb-plan-id',
        );
      }
      return withBackend(
        async (admin) => {
          const current = (await admin.listPlans()).find((candidate) => candidate.plan_id === planId);
          if (!current) throw new AdminFailure(`plan ${planId} is missing from the catalog`);
          const update: PlanUpdate = {
            deployments:
              options.deployments === undefined ? current.deployments : limitOf(options.deployments),
            self_hosted_workers:
              options.workers === undefined ? current.self_hosted_workers : limitOf(options.workers),
          };
          if (options.softDeployments !== undefined || options.softWorkers !== undefined) {
            update.soft_limits = withSoftLimits(current.soft_limits, options, 'left out');
          }
          if (options.orbPlanId !== undefined) {
            update.orb_external_plan_id = options.orbPlanId === 'none' ? null : options.orbPlanId;
          }
          return asPlan(await admin.setPlan(planId, update));
        },
        (view) => plansTable([view]),
      );
    });

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
    .option('--soft-deployments <cap>', `${SOFT_HELP}, or "inherit" (the plan's)`, softArgument(true))
    .option('--soft-workers <cap>', 'the same for self-hosted workers', softArgument(true))
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  npm run admin -- tenant set org-456 --deployments 9\n' +
        '  npm run admin -- tenant set org-1 --plan growth --customer cus_42 --workers inherit',
    )
    .action(
      (
        tenantId: string,
        options: {
          plan?: PlanType;
          customer?: string;
          deployments?: LimitArgument;
          workers?: LimitArgument;
        } & SoftOptions,
      ) =>
        withBackend(async (admin) => {
          const changesOverrides = options.deployments !== undefined || options.workers !== undefined;
          const changesSoftLimits =
            options.softDeployments !== undefined || options.softWorkers !== undefined;
          // The flags change only what they name; the rest stays as it is (a new tenant has nothing yet).
          const current =
            changesOverrides || changesSoftLimits
              ? await admin.showTenant(tenantId).catch((error: unknown) => {
                  if (error instanceof AdminFailure && error.message === 'Tenant not found') return undefined;
                  throw error;
                })
              : undefined;
          let overrides: LimitOverrides | undefined;
          if (changesOverrides) {
            overrides = { ...current?.overrides };
            for (const [value, key] of [
              [options.deployments, 'deployments'],
              [options.workers, 'self_hosted_workers'],
            ] as const) {
              if (value === 'inherit') delete overrides[key];
              else if (value !== undefined) overrides[key] = limitOf(value);
            }
          }
          const soft_limits = changesSoftLimits
            ? withSoftLimits(current?.soft_limits ?? {}, options, 'null')
            : undefined;
          const update = { plan_id: options.plan, customer_id: options.customer, overrides, soft_limits };
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
  /**
   * The configured secret, else the development one: the running server's (it generated it), or
   * with none running the one kept beside the embedded store (the next development server uses it).
   */
  const secretOf = (configured: string | undefined, generated: 'jwt_secret' | 'admin_secret') => {
    const current = config();
    if (configured || current.databaseUrl) return configured;
    const server = runningServerOf(current.dataDir);
    return server ? server[generated] : readDevSecrets(current.dataDir)?.[generated];
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
    .option(
      '--sub <who>',
      'who the audit log names (the server refuses a blank one)',
      subjectArgument,
      userInfo().username,
    )
    .addOption(ttl())
    .addHelpText('after', '\nExample:\n  ADMIN=$(npm run -s admin -- token admin --sub alice)')
    .action(async (options: { sub: string; ttl: number }) => {
      const secret = secretOf(config().adminSecret, 'admin_secret');
      if (!secret) throw new AdminFailure('set BILLING_ADMIN_SECRET');
      printToken(await signAdminToken(secret, { subject: options.sub, ttlSeconds: options.ttl }));
    });
  return root;
}

/** The API's field names, as the CLI's flags: a message tells the user what to type. */
const FLAG_OF_FIELD: Record<string, string> = {
  plan_id: '--plan',
  customer_id: '--customer',
  orb_external_plan_id: '--orb-plan-id',
};
const inFlagWords = (message: string) =>
  message.replace(
    /\b(plan_id|customer_id|orb_external_plan_id)\b/g,
    (field) => FLAG_OF_FIELD[field] ?? field,
  );

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
    if (error instanceof AdminFailure) io.err(`error: ${inFlagWords(error.message)}\n`);
    else if (error instanceof ConfigError) io.err(`error: ${error.message}\n`);
    else io.err(`${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}
