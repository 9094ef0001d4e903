export type { AppRouter } from './api/router.js';
export { type BillingAppOptions, createBillingApp } from './app.js';
export { signWorkerToken } from './auth/worker-token.js';
export { type BillingClient, type BillingClientOptions, createBillingClient } from './client.js';
export { BillingLimitsInput, BillingLimitsResponse } from './contract/limits.js';
export { PlanLimits, PlanType } from './contract/plans.js';
