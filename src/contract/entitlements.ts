import { z } from 'zod';
import { SoftLimit } from './admin.js';
import { Limit, PlanType } from './plans.js';
import { Resource, Timestamp } from './usage.js';

// ---- preflight checks -------------------------------------------------------------------------

export const CheckRequest = z.strictObject({
  checks: z
    .array(
      z.strictObject({
        resource: Resource,
        quantity: z.int().min(1).max(10_000).default(1),
      }),
    )
    .min(1)
    .max(50)
    .meta({ description: 'Each judged on its own against current usage, answered in this order.' }),
});
export type CheckRequest = z.output<typeof CheckRequest>;

/** Why a check is (not) allowed, from the resource's policy and current usage. */
export const CHECK_REASONS = [
  'unlimited',
  'within_limit',
  'soft_limit_overage',
  'limit_exceeded',
  'overage_cap_exceeded',
] as const;
export const CheckReason = z.enum(CHECK_REASONS).meta({
  id: 'CheckReason',
  description:
    '`unlimited`; `within_limit`; `soft_limit_overage`: allowed past a soft limit, into overage; ' +
    '`limit_exceeded`: past a hard limit; `overage_cap_exceeded`: past a soft limit’s overage cap.',
});
export type CheckReason = z.infer<typeof CheckReason>;

export const CheckResult = z
  .object({
    resource: Resource,
    quantity: z.int().min(1),
    allowed: z.boolean(),
    used: z.int().min(0),
    limit: Limit,
    remaining: Limit.meta({ description: 'never negative; `null` = unlimited' }),
    would_exceed_by: z
      .int()
      .min(0)
      .meta({ description: 'Units past the limit; 0 when within it or unlimited.' }),
    reason: CheckReason,
    upgrade: z
      .object({ plan_type: PlanType, limit: Limit })
      .nullable()
      .meta({
        description:
          'When not allowed: the first plan above the tenant’s (free < growth < enterprise) whose catalog limit ' +
          'for the resource would allow it within the limit; `null` when allowed, or when no plan would.',
      }),
  })
  .meta({ id: 'CheckResult' });
export type CheckResult = z.infer<typeof CheckResult>;

export const CheckResponse = z
  .object({ tenant_id: z.string(), plan_type: PlanType, results: z.array(CheckResult) })
  .meta({ id: 'Checks' });
export type CheckResponse = z.infer<typeof CheckResponse>;

// ---- entitlements ---------------------------------------------------------------------------

export const Entitlement = z
  .object({
    limit: Limit.meta({ description: 'The effective limit; `null` = unlimited.' }),
    source: z.enum(['plan', 'override']).meta({ description: 'Where `limit` comes from.' }),
    plan_limit: Limit.meta({ description: 'The plan’s catalog limit.' }),
    override: Limit.meta({
      description:
        'The tenant’s override (`null` = unlimited) when `source` is `override`; `null` otherwise.',
    }),
    soft: SoftLimit.nullable().meta({
      description:
        'The soft-limit policy in force (the tenant’s own, else the plan’s); `null` = a hard limit.',
    }),
    used: z.int().min(0),
    remaining: Limit.meta({ description: 'never negative; `null` = unlimited' }),
    active_reservations: z.int().min(0).meta({ description: 'Unreleased reservations of this resource.' }),
    leased_quantity: z
      .int()
      .min(0)
      .meta({ description: 'The quantity those with a lease hold (released by themselves unless renewed).' }),
  })
  .meta({ id: 'Entitlement' });
export type Entitlement = z.infer<typeof Entitlement>;

export const EntitlementsResponse = z
  .object({
    tenant_id: z.string(),
    customer_id: z.string(),
    plan_type: PlanType,
    entitlements: z.object({ deployments: Entitlement, self_hosted_workers: Entitlement }),
    as_of: Timestamp.meta({ description: 'When this was read from the store (RFC 3339, UTC).' }),
    stale: z.boolean().meta({
      description:
        'True when the store is unreachable (or slower than `BILLING_STORE_TIMEOUT_MS`) and this is the last ' +
        'answer read, at `as_of`, served for up to `BILLING_STALE_MAX_MS`.',
    }),
  })
  .meta({ id: 'Entitlements' });
export type EntitlementsResponse = z.infer<typeof EntitlementsResponse>;
