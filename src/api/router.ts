import { limits } from './billing/limits.js';
import { createCallerFactory, router } from './trpc.js';

export const appRouter = router({
  billing: router({ limits }),
});

/** The router's type, for typed clients (`createBillingClient`) and `inferProcedureOutput`. */
export type AppRouter = typeof appRouter;

export const createCaller = createCallerFactory(appRouter);
