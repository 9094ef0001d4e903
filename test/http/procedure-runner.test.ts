import { TRPCError } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import type { BillingContext } from '../../src/api/context.js';
import { createProcedureRunner } from '../../src/api/procedure-runner.js';
import { appRouter, createCaller } from '../../src/api/router.js';
import { AuthenticationError } from '../../src/auth/errors.js';
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

  it('refuses something that is not a procedure', () => {
    expect(() => createProcedureRunner({}, 'nothing')).toThrow('nothing: not a tRPC procedure');
  });
});
