/**
 * The admin CLI: plans, tenants and local tokens, straight on the database through the same
 * domain code as the admin API (every write audited, other replicas notified).
 *
 *   npm run admin -- plan list
 *   npm run admin -- plan set growth --deployments 10 --workers unlimited
 *   npm run admin -- tenant show org-1
 *   npm run admin -- tenant set org-1 --plan growth [--customer cus_42] [--deployments 10|unlimited|inherit] [--workers …]
 *   npm run admin -- tenant clear-overrides org-1
 *   npm run admin -- token worker [--ttl 3600]        (signs with BILLING_JWT_SECRET)
 *   npm run admin -- token admin [--sub alice] [--ttl 3600]   (signs with BILLING_ADMIN_SECRET)
 *
 * It reads the same environment as the server (DATABASE_URL, BILLING_DATA_DIR, …). PGlite is
 * single-process: with the embedded store, stop the server first or use the admin API.
 */
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { tenantView } from '../src/api/admin/views.js';
import { signAdminToken } from '../src/auth/admin-token.js';
import { signWorkerToken } from '../src/auth/worker-token.js';
import { loadConfig } from '../src/config.js';
import { CustomerId, type LimitOverrides } from '../src/contract/admin.js';
import { TenantId } from '../src/contract/limits.js';
import { Limit, PlanType } from '../src/contract/plans.js';
import { openBillingStore } from '../src/db/store.js';
import { DomainError } from '../src/domain/errors.js';
import { createAdministration } from '../src/domain/limits/administration.js';

class UsageError extends Error {}

const USAGE = `usage: npm run admin -- <plan|tenant|token> …  (see the header of scripts/admin.ts, or README "Admin")`;

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success)
    throw new UsageError(`${what}: ${z.prettifyError(result.error).replaceAll('\n', ' ')}`);
  return result.data;
}

/** `10` → 10, `unlimited` → null, `inherit` → undefined (tenants only). */
function limitArgument(value: string, what: string, allowInherit: boolean): number | null | undefined {
  if (value === 'unlimited') return null;
  if (value === 'inherit' && allowInherit) return undefined;
  if (!/^\d+$/.test(value)) {
    throw new UsageError(
      `${what}: expected a whole number, "unlimited"${allowInherit ? ' or "inherit"' : ''}`,
    );
  }
  return parse(Limit, Number(value), what);
}

async function withAdministration<T>(run: (admin: ReturnType<typeof createAdministration>) => Promise<T>) {
  const config = loadConfig(process.env);
  const store = await openBillingStore({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    seedDemo: config.seedDemo,
  });
  try {
    // The store's NOTIFY tells running replicas; this process has no cache to keep.
    return await run(createAdministration(store.tenants, () => {}));
  } finally {
    await store.close();
  }
}

const actor = () => `cli:${userInfo().username}`;

function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        plan: { type: 'string' },
        customer: { type: 'string' },
        deployments: { type: 'string' },
        workers: { type: 'string' },
        sub: { type: 'string' },
        ttl: { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`);
  }
}

async function main(argv: string[]): Promise<unknown> {
  const { values, positionals } = parseCommandLine(argv);
  const [noun, verb, id] = positionals;

  if (noun === 'token') {
    const config = loadConfig(process.env);
    const ttlSeconds = values.ttl ? parse(z.coerce.number().int().positive(), values.ttl, '--ttl') : 3600;
    if (verb === 'worker') {
      if (!config.jwtSecret)
        throw new UsageError('token worker: set BILLING_JWT_SECRET (the server prints one)');
      return signWorkerToken(config.jwtSecret, { ttlSeconds });
    }
    if (verb === 'admin') {
      if (!config.adminSecret) throw new UsageError('token admin: set BILLING_ADMIN_SECRET');
      return signAdminToken(config.adminSecret, { subject: values.sub ?? userInfo().username, ttlSeconds });
    }
  }

  if (noun === 'plan' && verb === 'list') {
    return withAdministration((admin) => admin.listPlans());
  }
  if (noun === 'plan' && verb === 'set') {
    const planId = parse(PlanType, id, 'plan');
    if (values.deployments === undefined || values.workers === undefined) {
      throw new UsageError('plan set: give both --deployments and --workers (a number or "unlimited")');
    }
    const limits = {
      deployments: limitArgument(values.deployments, '--deployments', false) ?? null,
      self_hosted_workers: limitArgument(values.workers, '--workers', false) ?? null,
    };
    return withAdministration((admin) => admin.setPlan(planId, limits, actor()));
  }

  if (noun === 'tenant') {
    const tenantId = parse(TenantId, id, 'tenant');
    if (verb === 'show')
      return withAdministration(async (admin) => tenantView(await admin.showTenant(tenantId)));
    if (verb === 'clear-overrides') {
      return withAdministration(async (admin) => tenantView(await admin.clearOverrides(tenantId, actor())));
    }
    if (verb === 'set') {
      const planId = values.plan === undefined ? undefined : parse(PlanType, values.plan, '--plan');
      const customerId =
        values.customer === undefined ? undefined : parse(CustomerId, values.customer, '--customer');
      return withAdministration(async (admin) => {
        // Flags change only the overrides they name; the others stay as they are.
        let overrides: LimitOverrides | undefined;
        if (values.deployments !== undefined || values.workers !== undefined) {
          const current = await admin.showTenant(tenantId).then(
            (record) => record.overrides,
            () => ({}),
          );
          overrides = { ...current };
          for (const [flag, key] of [
            ['deployments', 'deployments'],
            ['workers', 'self_hosted_workers'],
          ] as const) {
            const value = values[flag];
            if (value === undefined) continue;
            const limit = limitArgument(value, `--${flag}`, true);
            if (limit === undefined) delete overrides[key];
            else overrides[key] = limit;
          }
        }
        return tenantView(
          await admin.putTenant(tenantId, { plan_id: planId, customer_id: customerId, overrides }, actor()),
        );
      });
    }
  }
  throw new UsageError(USAGE);
}

main(process.argv.slice(2)).then(
  (result) => {
    console.log(typeof result === 'string' ? result : JSON.stringify(result, null, 2));
  },
  (error: unknown) => {
    if (error instanceof UsageError) console.error(error.message);
    else if (error instanceof DomainError) console.error(`error: ${error.message}`);
    else console.error(error);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  },
);
