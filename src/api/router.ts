import { clearOverrides } from './admin/clear-overrides.js';
import { createWebhookEndpoint } from './admin/create-webhook-endpoint.js';
import { deleteWebhookEndpoint } from './admin/delete-webhook-endpoint.js';
import { getActivity } from './admin/get-activity.js';
import { getTenant } from './admin/get-tenant.js';
import { getTenantUsage } from './admin/get-tenant-usage.js';
import { listAudit } from './admin/list-audit.js';
import { listNearLimits } from './admin/list-near-limits.js';
import { listPlans } from './admin/list-plans.js';
import { listRefusals } from './admin/list-refusals.js';
import { listTenants } from './admin/list-tenants.js';
import { listWebhookDeliveries } from './admin/list-webhook-deliveries.js';
import { listWebhookEndpoints } from './admin/list-webhook-endpoints.js';
import { listWebhookEvents } from './admin/list-webhook-events.js';
import { putTenant } from './admin/put-tenant.js';
import { redeliverWebhookDelivery } from './admin/redeliver-webhook-delivery.js';
import { replayWebhookEvent } from './admin/replay-webhook-event.js';
import { setPlan } from './admin/set-plan.js';
import { check } from './billing/check.js';
import { entitlements } from './billing/entitlements.js';
import { getUsage } from './billing/get-usage.js';
import { limits } from './billing/limits.js';
import { limitsChanges } from './billing/limits-changes.js';
import { listReservations } from './billing/list-reservations.js';
import { reconcileUsage } from './billing/reconcile-usage.js';
import { release } from './billing/release.js';
import { renew } from './billing/renew.js';
import { reserve } from './billing/reserve.js';
import { createCallerFactory, router } from './trpc.js';

export const appRouter = router({
  billing: router({
    limits,
    limitsChanges,
    usage: getUsage,
    reconcileUsage,
    reserve,
    renew,
    release,
    listReservations,
    check,
    entitlements,
  }),
  admin: router({
    listPlans,
    setPlan,
    getTenant,
    listTenants,
    getTenantUsage,
    listNearLimits,
    listAudit,
    putTenant,
    clearOverrides,
    listWebhookEvents,
    replayWebhookEvent,
    createWebhookEndpoint,
    listWebhookEndpoints,
    deleteWebhookEndpoint,
    listWebhookDeliveries,
    redeliverWebhookDelivery,
    getActivity,
    listRefusals,
  }),
});

/** The router's type, for typed clients (`createBillingClient`) and `inferProcedureOutput`. */
export type AppRouter = typeof appRouter;

export const createCaller = createCallerFactory(appRouter);
