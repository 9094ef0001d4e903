import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  unique,
  uuid,
} from 'drizzle-orm/pg-core';
import type { PlanSoftLimits, TenantSoftLimits } from '../contract/admin.js';

/**
 * The plan catalog. A NULL limit means unlimited — the same `null` callers see on the wire.
 * Changing a row changes every tenant on that plan, with no deploy.
 */
export const plan = pgTable(
  'plan',
  {
    id: text('id').primaryKey(),
    deployments: integer('deployments'),
    selfHostedWorkers: integer('self_hosted_workers'),
    /** The plan's `external_plan_id` in Orb; defaults to our id. */
    orbExternalPlanId: text('orb_external_plan_id').unique(),
    /** Resources whose limit is soft: `{ "deployments": { "overage_cap": 3 | null } }` (absent = hard). */
    softLimits: jsonb('soft_limits').$type<PlanSoftLimits>().notNull().default({}),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check('plan_deployments_non_negative', sql`${t.deployments} >= 0`),
    check('plan_self_hosted_workers_non_negative', sql`${t.selfHostedWorkers} >= 0`),
  ],
);

/** A billing account (the Orb external customer id). Several organizations may share one, and its plan. */
export const customer = pgTable(
  'customer',
  {
    id: text('id').primaryKey(),
    planId: text('plan_id')
      .notNull()
      .references(() => plan.id),
    /** `created_at` of the last Orb event applied to this customer; older ones arriving later are stale. */
    lastOrbEventAt: timestamp('last_orb_event_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // Prefix search of ids (see `organization_to_account_organization_id_c_idx`).
  (t) => [index('customer_id_c_idx').on(sql`${t.id} COLLATE "C"`)],
);

/**
 * Maps an organization (the Engine's tenant) to its billing account, with optional per-tenant
 * overrides of each limit. An override is one of three states, kept in two columns:
 *   allowance NULL, unlimited false → inherit the plan's limit
 *   allowance N,    unlimited false → exactly N
 *   allowance NULL, unlimited true  → unlimited
 * (a CHECK forbids a number together with "unlimited").
 */
export const organizationToAccount = pgTable(
  'organization_to_account',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    organizationId: text('organization_id').notNull().unique(),
    customerId: text('customer_id')
      .notNull()
      .references(() => customer.id),
    deploymentAllowance: integer('deployment_allowance'),
    deploymentUnlimited: boolean('deployment_unlimited').notNull().default(false),
    workerAllowance: integer('worker_allowance'),
    workerUnlimited: boolean('worker_unlimited').notNull().default(false),
    /** Per-tenant soft-limit policy by resource: absent = inherit the plan's, `null` = hard, `{ overage_cap }` = soft. */
    softLimits: jsonb('soft_limits').$type<TenantSoftLimits>().notNull().default({}),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('organization_to_account_customer_idx').on(t.customerId),
    // Prefix search and listing in byte order: `organization_id LIKE 'abc%'` (a known prefix) or,
    // with a parameter, `organization_id COLLATE "C" >= $1 AND organization_id COLLATE "C" < $2`
    // (ordered by `organization_id COLLATE "C"`). The unique index above has the database's
    // collation, which a LIKE prefix cannot use unless that collation is C.
    index('organization_to_account_organization_id_c_idx').on(sql`${t.organizationId} COLLATE "C"`),
    index('organization_to_account_customer_id_c_idx').on(sql`${t.customerId} COLLATE "C"`),
    check('deployment_allowance_non_negative', sql`${t.deploymentAllowance} >= 0`),
    check('worker_allowance_non_negative', sql`${t.workerAllowance} >= 0`),
    check(
      'deployment_override_is_one_state',
      sql`NOT (${t.deploymentUnlimited} AND ${t.deploymentAllowance} IS NOT NULL)`,
    ),
    check(
      'worker_override_is_one_state',
      sql`NOT (${t.workerUnlimited} AND ${t.workerAllowance} IS NOT NULL)`,
    ),
  ],
);

/** Every write, who made it, and the state before and after. */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    actor: text('actor').notNull(),
    action: text('action').notNull(),
    subjectType: text('subject_type').notNull(),
    subjectId: text('subject_id').notNull(),
    before: jsonb('before'),
    after: jsonb('after'),
  },
  (t) => [
    index('audit_log_subject_idx').on(t.subjectType, t.subjectId, t.at),
    // A subject's trail newest first, whatever its type (an id names one subject in practice).
    index('audit_log_subject_id_at_idx').on(t.subjectId, t.at.desc().nullsFirst(), t.id.desc().nullsFirst()),
    // The whole log newest first (the console's and `GET /admin/audit`'s listing without a subject).
    index('audit_log_at_idx').on(t.at.desc().nullsFirst(), t.id.desc().nullsFirst()),
  ],
);

/**
 * Every Orb webhook event that passed the signature check, once (Orb delivers at least once),
 * with what was done about it.
 */
export const webhookEvent = pgTable(
  'webhook_event',
  {
    id: text('id').primaryKey(),
    type: text('type').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
    customerId: text('customer_id'),
    /** applied | stale | ignored | unmapped_plan | unmapped_customer */
    outcome: text('outcome').notNull(),
    detail: jsonb('detail'),
    rawBody: text('raw_body').notNull(),
  },
  (t) => [index('webhook_event_customer_idx').on(t.customerId, t.receivedAt)],
);

/** What each tenant uses now, per resource: the row every reservation updates conditionally. */
export const usageCounter = pgTable(
  'usage_counter',
  {
    organizationId: text('organization_id').notNull(),
    resource: text('resource').notNull(),
    used: integer('used').notNull().default(0),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.organizationId, t.resource] }),
    check('usage_used_non_negative', sql`${t.used} >= 0`),
  ],
);

/** Granted reservations (refused ones are not recorded), each under the caller's idempotency key. */
export const reservation = pgTable(
  'reservation',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    organizationId: text('organization_id').notNull(),
    resource: text('resource').notNull(),
    quantity: integer('quantity').notNull(),
    idempotencyKey: text('idempotency_key').notNull(),
    /** The request as first made; the same key with another request is refused. */
    requestFingerprint: text('request_fingerprint').notNull(),
    reference: text('reference'),
    /** Units granted beyond a soft limit, for billing. */
    overageUnits: integer('overage_units').notNull().default(0),
    /** The 201 body first answered, answered again on a replay. */
    response: jsonb('response').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    releasedAt: timestamp('released_at', { withTimezone: true }),
    /** `released` (by a caller) or `expired` (its lease ran out); NULL while it holds. */
    releaseReason: text('release_reason'),
    /** The lease length last granted (seconds), at creation or at its latest renewal; NULL = no lease. */
    leaseSeconds: integer('lease_seconds'),
    /** When an unrenewed lease is released by the sweep (the database's clock); NULL = no lease. */
    expiresAt: timestamp('expires_at', { withTimezone: true }),
  },
  (t) => [
    unique('reservation_idempotency').on(t.organizationId, t.idempotencyKey),
    check(
      'reservation_release_reason',
      sql`(${t.releasedAt} IS NULL) = (${t.releaseReason} IS NULL) AND ${t.releaseReason} IN ('released', 'expired')`,
    ),
    check('reservation_lease_is_whole', sql`(${t.leaseSeconds} IS NULL) = (${t.expiresAt} IS NULL)`),
    // The sweep's: unreleased leases by when they end.
    index('reservation_lease_due_idx')
      .on(t.expiresAt)
      .where(sql`${t.releasedAt} IS NULL AND ${t.expiresAt} IS NOT NULL`),
    // What a tenant holds now, by resource (its entitlements' reservation counts).
    index('reservation_active_idx').on(t.organizationId, t.resource).where(sql`${t.releasedAt} IS NULL`),
    // The listing's: a tenant's reservations, newest first (NULLS FIRST, as a plain DESC orders; 0013).
    index('reservation_tenant_created_idx').on(
      t.organizationId,
      t.createdAt.desc().nullsFirst(),
      t.id.desc().nullsFirst(),
    ),
  ],
);

/**
 * The outbox: every event the service sends (`limits.changed`, …), written in the transaction of
 * the change that caused it. `sequence` is database-wide and increasing (a PostgreSQL sequence):
 * consumers order and resume by it. `data` is the event's data without `sequence` (added when sent).
 */
export const billingEvent = pgTable(
  'billing_event',
  {
    sequence: bigserial('sequence', { mode: 'number' }).primaryKey(),
    /** The Standard Webhooks `webhook-id`: the same on every attempt. */
    id: uuid('id').notNull().unique().defaultRandom(),
    type: text('type').notNull(),
    tenantId: text('tenant_id'),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('billing_event_tenant_idx').on(t.tenantId, t.sequence),
    // The change stream's: one type's events after a sequence, and the newest of them.
    index('billing_event_type_idx').on(t.type, t.sequence),
  ],
);

/**
 * How far the outbox was pruned, per event type: the highest `sequence` deleted. A stream resumed
 * from an earlier sequence may have missed events, and is told so instead of being resumed.
 */
export const billingEventPruned = pgTable('billing_event_pruned', {
  type: text('type').primaryKey(),
  throughSequence: bigint('through_sequence', { mode: 'number' }).notNull(),
});

/** Where operators asked events to be sent, with the secret they are signed with. */
export const webhookEndpoint = pgTable('webhook_endpoint', {
  id: uuid('id').primaryKey().defaultRandom(),
  url: text('url').notNull(),
  /** The event types sent to it (a JSON array of strings); NULL = every type, those added later too. */
  events: jsonb('events').$type<string[]>(),
  description: text('description').notNull().default(''),
  /** `whsec_` + base64 of 32 random bytes: shown once, when the endpoint is created. */
  secret: text('secret').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  /** Set when it answered 410 Gone or failed for 24 hours: nothing more is attempted. */
  disabledAt: timestamp('disabled_at', { withTimezone: true }),
  disabledReason: text('disabled_reason'),
  /** When its current run of failed attempts began; NULL after a success. */
  failingSince: timestamp('failing_since', { withTimezone: true }),
});

/**
 * One event for one endpoint, made by a trigger on `billing_event` (one per enabled endpoint that
 * takes its type). A replica claims a due one by moving `next_attempt_at` past the attempt's
 * timeout (`FOR UPDATE SKIP LOCKED`): a replica that dies mid-attempt leaves it to be tried again.
 */
export const webhookDelivery = pgTable(
  'webhook_delivery',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    endpointId: uuid('endpoint_id')
      .notNull()
      .references(() => webhookEndpoint.id, { onDelete: 'cascade' }),
    eventSequence: bigint('event_sequence', { mode: 'number' })
      .notNull()
      .references(() => billingEvent.sequence, { onDelete: 'cascade' }),
    /** Copied from the event: one tenant's deliveries to an endpoint go one at a time, in sequence order. */
    tenantId: text('tenant_id'),
    eventType: text('event_type').notNull(),
    status: text('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
  },
  (t) => [
    check('webhook_delivery_status', sql`${t.status} IN ('pending', 'delivered', 'failed')`),
    unique('webhook_delivery_once').on(t.endpointId, t.eventSequence),
    // The dispatcher's: what is due, and whether an earlier one of the same tenant still waits.
    index('webhook_delivery_pending_idx')
      .on(t.endpointId, t.tenantId, t.eventSequence)
      .where(sql`${t.status} = 'pending'`),
    index('webhook_delivery_due_idx').on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
    // The operators' listing: an endpoint's deliveries, newest first (NULLS FIRST, as a plain DESC orders; 0013).
    index('webhook_delivery_endpoint_created_idx').on(
      t.endpointId,
      t.createdAt.desc().nullsFirst(),
      t.id.desc().nullsFirst(),
    ),
  ],
);

/**
 * Where each tenant's usage of a resource stands against its limit, as last alerted:
 * `ok` → `warning` → `reached` and back (see drizzle/0011_limit_alerts.sql). A row is made the
 * first time the resource is assessed; its lock is what makes each transition happen once.
 */
export const billingAlertState = pgTable(
  'billing_alert_state',
  {
    organizationId: text('organization_id').notNull(),
    resource: text('resource').notNull(),
    state: text('state').notNull().default('ok'),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.organizationId, t.resource] }),
    check('billing_alert_state_state', sql`${t.state} IN ('ok', 'warning', 'reached')`),
  ],
);

/**
 * The alert thresholds, one row: written by every replica as it starts
 * (`BILLING_ALERT_WARNING_PERCENT`, `BILLING_ALERT_HYSTERESIS_PERCENT`; the last one started wins),
 * read by the database functions that assess alerts.
 */
export const billingAlertSettings = pgTable(
  'billing_alert_settings',
  {
    /** Always true: the table holds one row. */
    id: boolean('id').primaryKey().default(true),
    warningPercent: integer('warning_percent').notNull().default(80),
    hysteresisPercent: integer('hysteresis_percent').notNull().default(10),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check('billing_alert_settings_one_row', sql`${t.id}`),
    check(
      'billing_alert_settings_percentages',
      sql`${t.warningPercent} BETWEEN 1 AND 100 AND ${t.hysteresisPercent} >= 0 AND ${t.hysteresisPercent} < ${t.warningPercent}`,
    ),
  ],
);

/**
 * What happened per tenant × resource × UTC hour: reservations granted, released by their holder,
 * refused at the limit, and leases expired. Each replica counts in memory and adds its counts here
 * every few seconds (src/domain/usage/activity.ts); rows older than 35 days are pruned.
 */
export const usageActivityHourly = pgTable(
  'usage_activity_hourly',
  {
    organizationId: text('organization_id').notNull(),
    resource: text('resource').notNull(),
    /** The start of the UTC hour. */
    hour: timestamp('hour', { withTimezone: true }).notNull(),
    grants: integer('grants').notNull().default(0),
    releases: integer('releases').notNull().default(0),
    refusals: integer('refusals').notNull().default(0),
    expiries: integer('expiries').notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.organizationId, t.resource, t.hour] }),
    check(
      'usage_activity_hourly_counts_non_negative',
      sql`${t.grants} >= 0 AND ${t.releases} >= 0 AND ${t.refusals} >= 0 AND ${t.expiries} >= 0`,
    ),
    // Every tenant's hours (the all-tenant chart, the refusals list, pruning).
    index('usage_activity_hourly_hour_idx').on(t.hour),
  ],
);

/**
 * Console sessions signed out before they expired (a session itself is a sealed cookie, kept
 * nowhere): every replica refuses these. A row is pruned once its session would have expired.
 */
export const consoleSessionRevocation = pgTable('console_session_revocation', {
  sessionId: text('session_id').primaryKey(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
});
