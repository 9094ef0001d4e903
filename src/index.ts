export type { AppRouter } from './api/router.js';
export { type BillingAppOptions, createBillingApp } from './app.js';
export { ADMIN_AUDIENCE, signAdminToken } from './auth/admin-token.js';
export { signWorkerToken } from './auth/worker-token.js';
export { type BillingClient, type BillingClientOptions, createBillingClient } from './client.js';
export { BillingLimitsInput, BillingLimitsResponse } from './contract/limits.js';
export { PlanLimits, PlanType } from './contract/plans.js';
export { type OpenStoreOptions, openLimitsStore } from './db/open-store.js';
export type { LimitsStore } from './limits/limits-store.js';
