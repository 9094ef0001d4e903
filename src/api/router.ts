import { clearOverrides } from './admin/clear-overrides.js';
import { getTenant } from './admin/get-tenant.js';
import { listWebhookEvents } from './admin/list-webhook-events.js';
import { putTenant } from './admin/put-tenant.js';
import { setPlan } from './admin/set-plan.js';
import { limits } from './billing/limits.js';
import { createCallerFactory, router } from './trpc.js';

export const appRouter = router({
  billing: router({ limits }),
  admin: router({ setPlan, getTenant, putTenant, clearOverrides, listWebhookEvents }),
});

/** The router's type, for typed clients (`createBillingClient`) and `inferProcedureOutput`. */
export type AppRouter = typeof appRouter;

export const createCaller = createCallerFactory(appRouter);
