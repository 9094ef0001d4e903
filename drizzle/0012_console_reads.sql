-- The operator console's reads. `usage_activity_hourly`: grants, releases, refusals and expiries per
-- tenant × resource × UTC hour, added to by every replica's periodic flush of what it counted in
-- memory (one additive upsert), read per hour for the last days and pruned after 35 days.
--
-- Indexes for prefix search and listing in byte order: tenant ids, customer ids and a tenant's
-- customer, each `COLLATE "C"`. The unique and foreign-key indexes have the database's collation,
-- which a `LIKE 'prefix%'` cannot use unless that collation is C (en_US.UTF-8, C.UTF-8 on
-- PostgreSQL 15 are not). A prefix the planner sees (a literal, a custom plan) uses them as
-- `col LIKE 'prefix%'`, `starts_with(col, 'prefix')` or `col ^@ 'prefix'`; a parameter in a
-- generic plan does not, so a prepared query writes the range: `col COLLATE "C" >= $1 AND
-- col COLLATE "C" < $2` ($2 the prefix's successor), ordered by `col COLLATE "C"`.
--
-- A subject's audit trail newest first without its type: (subject_id, at DESC, id DESC), and the
-- whole log newest first: (at DESC, id DESC); NULLS
-- FIRST as a plain `ORDER BY at DESC, id DESC` wants them (an index NULLS LAST would not serve it).
CREATE TABLE "usage_activity_hourly" (
	"organization_id" text NOT NULL,
	"resource" text NOT NULL,
	"hour" timestamp with time zone NOT NULL,
	"grants" integer DEFAULT 0 NOT NULL,
	"releases" integer DEFAULT 0 NOT NULL,
	"refusals" integer DEFAULT 0 NOT NULL,
	"expiries" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "usage_activity_hourly_organization_id_resource_hour_pk" PRIMARY KEY("organization_id","resource","hour"),
	CONSTRAINT "usage_activity_hourly_counts_non_negative" CHECK ("usage_activity_hourly"."grants" >= 0 AND "usage_activity_hourly"."releases" >= 0 AND "usage_activity_hourly"."refusals" >= 0 AND "usage_activity_hourly"."expiries" >= 0)
);
--> statement-breakpoint
CREATE INDEX "usage_activity_hourly_hour_idx" ON "usage_activity_hourly" USING btree ("hour");--> statement-breakpoint
CREATE INDEX "audit_log_subject_id_at_idx" ON "audit_log" USING btree ("subject_id","at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "audit_log_at_idx" ON "audit_log" USING btree ("at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "customer_id_c_idx" ON "customer" USING btree ("id" COLLATE "C");--> statement-breakpoint
CREATE INDEX "organization_to_account_organization_id_c_idx" ON "organization_to_account" USING btree ("organization_id" COLLATE "C");--> statement-breakpoint
CREATE INDEX "organization_to_account_customer_id_c_idx" ON "organization_to_account" USING btree ("customer_id" COLLATE "C");