import { z } from 'zod';
import { PlanLimits, PlanType } from './plans.js';

/** No control characters: they can't travel in a header and have no place in an id or a log line. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const NO_CONTROL_CHARACTERS = /^[^\u0000-\u001f\u007f]*$/;

/**
 * HTTP strips spaces and tabs around a header value: an id with them at either end could be created
 * but never named in `tenant-id`. (A tab is a control character already, refused by the pattern.)
 */
const HTTP_PADDING = /^[ \t]|[ \t]$/;

export const TenantId = z
  .string()
  .min(1)
  .max(255)
  .regex(NO_CONTROL_CHARACTERS)
  // A check of its own after the pattern, whose wording the original's 422s carry unchanged.
  .refine((id) => !HTTP_PADDING.test(id), { message: 'must not start or end with a space or a tab' })
  .meta({
    description:
      'The organization (tenant) identifier: 1–255 characters, no control characters, no space at either end. ' +
      'In a header, as UTF-8.',
    example: 'org-123',
  });

export const BillingLimitsInput = z.object({
  tenantId: TenantId,
  planType: PlanType.default('free').meta({
    description: "The tenant's plan, trusted in `header` plan-source mode only.",
  }),
});
export type BillingLimitsInput = z.input<typeof BillingLimitsInput>;

/**
 * Where the REST route reads each input field. The Engine sends both as headers (the original
 * FastAPI `Header(...)` parameters); tRPC callers pass them in the input object instead.
 */
export const BILLING_LIMITS_HEADERS = { tenantId: 'tenant-id', planType: 'x-plan-type' } as const;

export const BillingLimits = PlanLimits.extend({
  plan_type: PlanType,
}).meta({ id: 'BillingLimits' });
/** A tenant's effective limits: its plan's row ⊕ its overrides, and the plan's name. */
export type BillingLimits = z.infer<typeof BillingLimits>;

/** The body of `GET /billing/limits` — key order is part of the wire contract. */
export const BillingLimitsResponse = z
  .object({
    tenant_id: z.string(),
    limits: BillingLimits,
  })
  .meta({
    id: 'BillingLimitsResponse',
    example: {
      tenant_id: 'org-123',
      limits: { deployments: 5, self_hosted_workers: null, plan_type: 'growth' },
    },
  });
export type BillingLimitsResponse = z.infer<typeof BillingLimitsResponse>;
