export type { AppRouter } from './api/router.js';
export {
  type BillingAppConfig,
  type BillingAppDependencies,
  type BillingAppHooks,
  type BillingAppOptions,
  createBillingApp,
} from './app.js';
export { ADMIN_AUDIENCE, signAdminToken } from './auth/admin-token.js';
export { signWorkerToken } from './auth/worker-token.js';
export { BillingLimitsInput, BillingLimitsResponse } from './contract/limits.js';
export { PlanLimits, PlanType } from './contract/plans.js';
export { type OpenStoreOptions, openBillingStore } from './db/store.js';
export type { BillingStore } from './domain/store.js';
export { createLogger, type Logger, type LoggerOptions } from './telemetry/logger.js';
export { type BillingMetrics, createPrometheusMetrics, type PrometheusMetrics } from './telemetry/metrics.js';
export { type RequestTracer, startTracing, type Tracing } from './telemetry/tracing.js';
