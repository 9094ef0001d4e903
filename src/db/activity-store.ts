import { type AnyColumn, and, asc, desc, eq, gt, gte, lt, sql } from 'drizzle-orm';
import { Resource } from '../contract/usage.js';
import type { ActivityStore, TenantActivity } from '../domain/usage/activity-store.js';
import type { Database } from './database.js';
import { usageActivityHourly as activity } from './schema.js';

function resourceOf(value: string): Resource {
  const parsed = Resource.safeParse(value);
  // A TypeError: a bug (ours or a writer's), never mistaken for an unreachable store.
  if (!parsed.success) throw new TypeError(`usage_activity_hourly holds an unknown resource: ${value}`);
  return parsed.data;
}

/** A sum of a count column over a group (bigint on the wire: read as a number). */
const total = (column: AnyColumn) => sql<number>`sum(${column})`.mapWith(Number);

/**
 * The rows of `entries` as one JSON parameter: the upsert has one bind parameter whatever the
 * number of rows (PostgreSQL takes at most 65,535 per statement).
 */
function rowsJson(entries: readonly TenantActivity[]): string {
  return JSON.stringify(
    entries.map((entry) => ({
      organization_id: entry.tenantId,
      resource: entry.resource,
      hour: entry.hour.toISOString(),
      grants: entry.grants,
      releases: entry.releases,
      refusals: entry.refusals,
      expiries: entry.expiries,
    })),
  );
}

/** `usage_activity_hourly`, the hourly rollup every replica adds its counts to. */
export function createActivityStore(db: Database): ActivityStore {
  return {
    async add(entries) {
      if (entries.length === 0) return;
      // One additive upsert: what another replica added to the same hour stays, and adds up. Rows
      // are taken in key order, so two replicas adding to the same rows lock them in the same
      // order and cannot deadlock.
      await db.execute(sql`
        insert into usage_activity_hourly
          (organization_id, resource, hour, grants, releases, refusals, expiries)
        select organization_id, resource, hour, grants, releases, refusals, expiries
        from jsonb_to_recordset(${rowsJson(entries)}::jsonb) as row (
          organization_id text, resource text, hour timestamptz,
          grants integer, releases integer, refusals integer, expiries integer
        )
        order by organization_id, resource, hour
        on conflict (organization_id, resource, hour) do update set
          grants = usage_activity_hourly.grants + excluded.grants,
          releases = usage_activity_hourly.releases + excluded.releases,
          refusals = usage_activity_hourly.refusals + excluded.refusals,
          expiries = usage_activity_hourly.expiries + excluded.expiries`);
    },

    async hourly({ from, to, tenantId }) {
      const rows = await db
        .select({
          hour: activity.hour,
          resource: activity.resource,
          grants: total(activity.grants),
          releases: total(activity.releases),
          refusals: total(activity.refusals),
          expiries: total(activity.expiries),
        })
        .from(activity)
        .where(
          and(
            gte(activity.hour, from),
            lt(activity.hour, to),
            tenantId === undefined ? undefined : eq(activity.organizationId, tenantId),
          ),
        )
        .groupBy(activity.hour, activity.resource)
        .orderBy(asc(activity.hour), asc(activity.resource));
      return rows.map((row) => ({ ...row, resource: resourceOf(row.resource) }));
    },

    async refusals({ from, to, limit }) {
      const refusals = total(activity.refusals);
      const lastHour = sql<Date>`max(${activity.hour})`.mapWith(activity.hour);
      const rows = await db
        .select({
          tenantId: activity.organizationId,
          resource: activity.resource,
          refusals,
          lastHour,
        })
        .from(activity)
        .where(and(gte(activity.hour, from), lt(activity.hour, to), gt(activity.refusals, 0)))
        .groupBy(activity.organizationId, activity.resource)
        .orderBy(
          desc(sql`sum(${activity.refusals})`),
          desc(sql`max(${activity.hour})`),
          asc(activity.organizationId),
          asc(activity.resource),
        )
        .limit(limit);
      return rows.map((row) => ({ ...row, resource: resourceOf(row.resource) }));
    },

    async prune(before, limit) {
      const deleted = await db
        .delete(activity)
        .where(
          sql`(${activity.organizationId}, ${activity.resource}, ${activity.hour}) in (
            select organization_id, resource, hour from usage_activity_hourly
            where hour < ${before.toISOString()}::timestamptz
            order by hour
            limit ${limit}
          )`,
        )
        .returning({ hour: activity.hour });
      return deleted.length;
    },
  };
}
