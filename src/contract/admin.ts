import { z } from 'zod';
import { keyCursor } from './cursor.js';
import { BillingLimits, TenantId } from './limits.js';
import { Count, Limit, PlanLimits, PlanType } from './plans.js';

/** Orb's ids as ours: 1–255 characters, no control characters. */
const OrbId = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[^\p{Cc}]*$/u);

export const CustomerId = OrbId.meta({
  description: 'The billing account — also the Orb external customer id.',
  example: 'cus_42',
});

/** Per-tenant overrides: a key left out inherits the plan; `null` means unlimited. */
export const LimitOverrides = z
  .strictObject({
    deployments: Limit.optional(),
    self_hosted_workers: Limit.optional(),
  })
  .meta({
    id: 'LimitOverrides',
    description: 'Per-tenant limits. A key left out inherits the plan; `null` means unlimited.',
    example: { deployments: 10 },
  });
export type LimitOverrides = z.infer<typeof LimitOverrides>;

/** Soft: the limit may be exceeded by up to `overage_cap` units (`null`: no cap), billed as overage. */
export const SoftLimit = z.strictObject({ overage_cap: Count.nullable() }).meta({ id: 'SoftLimit' });
export type SoftLimit = z.infer<typeof SoftLimit>;

/** A plan's soft limits: a resource listed is soft, one left out is hard. */
export const PlanSoftLimits = z
  .strictObject({ deployments: SoftLimit.optional(), self_hosted_workers: SoftLimit.optional() })
  .meta({ id: 'PlanSoftLimits', example: { deployments: { overage_cap: 3 } } });
export type PlanSoftLimits = z.infer<typeof PlanSoftLimits>;

/** A tenant's own soft-limit policy: left out = the plan's, `null` = hard, an object = soft. */
export const TenantSoftLimits = z
  .strictObject({
    deployments: SoftLimit.nullable().optional(),
    self_hosted_workers: SoftLimit.nullable().optional(),
  })
  .meta({ id: 'TenantSoftLimits', example: { self_hosted_workers: { overage_cap: null } } });
export type TenantSoftLimits = z.infer<typeof TenantSoftLimits>;

export const PlanPathInput = z.object({ planId: PlanType });

/** A plan's `external_plan_id` in Orb. */
export const OrbExternalPlanId = OrbId.meta({
  description: "The plan's `external_plan_id` in Orb.",
  example: 'orb-growth',
});

export const PlanUpdate = z.strictObject({
  deployments: PlanLimits.shape.deployments,
  self_hosted_workers: PlanLimits.shape.self_hosted_workers,
  soft_limits: PlanSoftLimits.optional().meta({
    description: 'Replaces the soft limits when present; kept when left out.',
  }),
  orb_external_plan_id: OrbExternalPlanId.nullable().optional().meta({
    description:
      'The Orb plan whose subscription events put customers on this plan; `null` unmaps it, left out keeps it. One Orb plan id maps to at most one plan (409 otherwise).',
  }),
});
export type PlanUpdate = z.output<typeof PlanUpdate>;

export const PlanView = z
  .object({
    plan_id: PlanType,
    deployments: Limit,
    self_hosted_workers: Limit,
    soft_limits: PlanSoftLimits,
    orb_external_plan_id: z.string().nullable().meta({
      description: 'The Orb plan mapped to this plan; `null`: none (its Orb events are `unmapped_plan`).',
    }),
  })
  .meta({ id: 'Plan' });
export type PlanView = z.infer<typeof PlanView>;

/** A plan as the catalog listing shows it: the plan, and how many organizations are on it now. */
export const PlanSummary = PlanView.extend({
  tenant_count: z.int().min(0).meta({ description: 'Organizations whose customer is on this plan.' }),
}).meta({
  id: 'PlanSummary',
  example: {
    plan_id: 'growth',
    deployments: 5,
    self_hosted_workers: null,
    soft_limits: {},
    orb_external_plan_id: 'growth',
    tenant_count: 1204,
  },
});
export type PlanSummary = z.infer<typeof PlanSummary>;

export const TenantPathInput = z.object({ tenantId: TenantId });

export const TenantUpdate = z.strictObject({
  plan_id: PlanType.optional().meta({
    description: "The customer's plan. Required when the customer does not exist yet.",
  }),
  customer_id: CustomerId.optional().meta({
    description: 'The billing account. New tenants default to their own id; existing ones keep theirs.',
  }),
  overrides: LimitOverrides.optional().meta({
    description: 'Replaces all overrides when present; existing overrides are kept when left out.',
  }),
  soft_limits: TenantSoftLimits.optional().meta({
    description: "Replaces the tenant's soft-limit policy when present; kept when left out.",
  }),
});
/** What a PUT of a tenant may say; anything left out keeps its current value. */
export type TenantUpdate = z.output<typeof TenantUpdate>;

export const TenantView = z
  .object({
    tenant_id: z.string(),
    customer_id: z.string(),
    plan_id: PlanType,
    overrides: LimitOverrides,
    soft_limits: TenantSoftLimits,
    limits: BillingLimits,
  })
  .meta({
    id: 'Tenant',
    example: {
      tenant_id: 'org-1',
      customer_id: 'cus_42',
      plan_id: 'growth',
      overrides: { deployments: 10 },
      soft_limits: { deployments: { overage_cap: 2 } },
      limits: { deployments: 10, self_hosted_workers: null, plan_type: 'growth' },
    },
  });
export type TenantView = z.infer<typeof TenantView>;

/** A tenant as a listing shows it: its plan, overrides and effective limits (soft limits: `GET` the tenant). */
export const TenantSummary = TenantView.omit({ soft_limits: true }).meta({
  id: 'TenantSummary',
  example: {
    tenant_id: 'org-1',
    customer_id: 'cus_42',
    plan_id: 'growth',
    overrides: { deployments: 10 },
    limits: { deployments: 10, self_hosted_workers: null, plan_type: 'growth' },
  },
});
export type TenantSummary = z.infer<typeof TenantSummary>;

/** The opaque `cursor` of `GET /admin/tenants`: the last tenant id of the previous page (see `keyCursor`). */
export const TenantsCursor = keyCursor({
  example: 'WyJvcmctMTIzIl0',
  isKey: (key) => TenantId.safeParse(key).success,
});
