import type { PlanType } from '../contract/plans.js';

/** The tenants of the original README's curl examples, seeded once so they work on a fresh start. */
export const DEMO_TENANTS: readonly { tenantId: string; planId: PlanType }[] = [
  { tenantId: 'org-123', planId: 'free' },
  { tenantId: 'org-456', planId: 'growth' },
  { tenantId: 'org-789', planId: 'enterprise' },
];
