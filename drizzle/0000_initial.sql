CREATE TABLE "audit_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"subject_type" text NOT NULL,
	"subject_id" text NOT NULL,
	"before" jsonb,
	"after" jsonb
);
--> statement-breakpoint
CREATE TABLE "customer" (
	"id" text PRIMARY KEY NOT NULL,
	"plan_id" text NOT NULL,
	"orb_customer_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "organization_to_account" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"organization_id" text NOT NULL,
	"customer_id" text NOT NULL,
	"deployment_allowance" integer,
	"deployment_unlimited" boolean DEFAULT false NOT NULL,
	"worker_allowance" integer,
	"worker_unlimited" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "organization_to_account_organization_id_unique" UNIQUE("organization_id"),
	CONSTRAINT "deployment_allowance_non_negative" CHECK ("organization_to_account"."deployment_allowance" >= 0),
	CONSTRAINT "worker_allowance_non_negative" CHECK ("organization_to_account"."worker_allowance" >= 0),
	CONSTRAINT "deployment_override_is_one_state" CHECK (NOT ("organization_to_account"."deployment_unlimited" AND "organization_to_account"."deployment_allowance" IS NOT NULL)),
	CONSTRAINT "worker_override_is_one_state" CHECK (NOT ("organization_to_account"."worker_unlimited" AND "organization_to_account"."worker_allowance" IS NOT NULL))
);
--> statement-breakpoint
CREATE TABLE "plan" (
	"id" text PRIMARY KEY NOT NULL,
	"deployments" integer,
	"self_hosted_workers" integer,
	"orb_external_plan_id" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "plan_orb_external_plan_id_unique" UNIQUE("orb_external_plan_id"),
	CONSTRAINT "plan_deployments_non_negative" CHECK ("plan"."deployments" >= 0),
	CONSTRAINT "plan_self_hosted_workers_non_negative" CHECK ("plan"."self_hosted_workers" >= 0)
);
--> statement-breakpoint
ALTER TABLE "customer" ADD CONSTRAINT "customer_plan_id_plan_id_fk" FOREIGN KEY ("plan_id") REFERENCES "public"."plan"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "organization_to_account" ADD CONSTRAINT "organization_to_account_customer_id_customer_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customer"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "audit_log_subject_idx" ON "audit_log" USING btree ("subject_type","subject_id","at");--> statement-breakpoint
CREATE INDEX "organization_to_account_customer_idx" ON "organization_to_account" USING btree ("customer_id");