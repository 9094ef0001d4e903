import { TRPCError } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import type { BillingContext } from '../../src/api/context.js';
import { createProcedureRunner } from '../../src/api/procedure-runner.js';
import { appRouter, createCaller } from '../../src/api/router.js';
import { createCallerFactory, router, workerProcedure } from '../../src/api/trpc.js';
import { AuthenticationError } from '../../src/auth/errors.js';
import { BillingLimitsInput, BillingLimitsResponse } from '../../src/contract/limits.js';
import { createLimitsSource } from '../../src/limits/limits-source.js';

const limitsProcedure = appRouter.billing.limits;

function contextWith(authorized: boolean): BillingContext {
  return {
    authorization: authorized ? 'Bearer ok' : undefined,
    services: {
      async authenticateWorker(authorization) {
        if (!authorization) throw new AuthenticationError('Missing authorization header');
        return { sub: 'engine' };
      },
      limits: createLimitsSource({ mode: 'header' }),
    },
  };
}

async function outcome(call: () => Promise<unknown>) {
  try {
    return { data: await call() };
  } catch (error) {
    expect(error).toBeInstanceOf(TRPCError);
    const trpcError = error as TRPCError;
    return { code: trpcError.code, cause: trpcError.cause?.constructor.name, message: trpcError.message };
  }
}

describe('the REST procedure runner', () => {
  const run = createProcedureRunner(limitsProcedure, 'billing.limits');

  it.each([
    ['a valid call', true, { tenantId: 'org-1', planType: 'growth' }],
    ['the default plan', true, { tenantId: 'org-1' }],
    ['an invalid input', true, { tenantId: '', planType: 'pro' }],
    ['a missing input', true, undefined],
    ['no credentials', false, { tenantId: 'org-1' }],
    ['no credentials and an invalid input (auth comes first)', false, { planType: 'pro' }],
  ])('answers %s exactly as tRPC’s own caller does', async (_, authorized, input) => {
    const ctx = contextWith(authorized);
    const viaCaller = await outcome(() => createCaller(ctx).billing.limits(input as never));
    const viaRunner = await outcome(() => run(ctx, input));
    expect(viaRunner).toEqual(viaCaller);
  });

  it('surfaces a failing output schema as tRPC does (a 500, never an invalid body)', async () => {
    const ctx = contextWith(true);
    ctx.services.limits = {
      mode: 'header',
      effectiveLimits: async () => ({ deployments: -1, self_hosted_workers: null, plan_type: 'free' }),
      apply: () => {},
    };
    const viaRunner = await outcome(() => run(ctx, { tenantId: 'org-1' }));
    expect(viaRunner).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', message: 'Output validation failed' });
    expect(viaRunner).toEqual(await outcome(() => createCaller(ctx).billing.limits({ tenantId: 'org-1' })));
  });

  it('walks any other middleware chain step by step, with the same results as tRPC', async () => {
    const seen: string[] = [];
    const traced = workerProcedure
      .use(async ({ next, path }) => {
        seen.push(path);
        return next();
      })
      .input(BillingLimitsInput)
      .output(BillingLimitsResponse)
      .query(async ({ input, ctx }) => ({
        tenant_id: input.tenantId,
        limits: await ctx.services.limits.effectiveLimits(input),
      }));
    const tracedRouter = router({ traced });
    const walk = createProcedureRunner(tracedRouter.traced, 'traced');
    for (const [authorized, input] of [
      [true, { tenantId: 'org-1' }],
      [true, { tenantId: '' }],
      [false, { tenantId: 'org-1' }],
    ] as const) {
      const ctx = contextWith(authorized);
      const viaCaller = await outcome(() => createCallerFactory(tracedRouter)(ctx).traced(input));
      expect(await outcome(() => walk(ctx, input))).toEqual(viaCaller);
    }
    expect(seen).toEqual(['traced', 'traced', 'traced', 'traced']);
  });

  it('runs admin procedures as tRPC does, including "admin API off"', async () => {
    const shown = createProcedureRunner(appRouter.admin.getTenant, 'admin.getTenant');
    const ctx = contextWith(true);
    const viaCaller = await outcome(() => createCaller(ctx).admin.getTenant({ tenantId: 'org-1' }));
    expect(viaCaller).toMatchObject({ code: 'NOT_FOUND' });
    expect(await outcome(() => shown(ctx, { tenantId: 'org-1' }))).toEqual(viaCaller);
  });

  it('refuses something that is not a procedure', () => {
    expect(() => createProcedureRunner({}, 'nothing')).toThrow('nothing: not a tRPC procedure');
  });
});
