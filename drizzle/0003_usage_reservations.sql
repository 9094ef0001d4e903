CREATE TABLE "reservation" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"organization_id" text NOT NULL,
	"resource" text NOT NULL,
	"quantity" integer NOT NULL,
	"idempotency_key" text NOT NULL,
	"request_fingerprint" text NOT NULL,
	"reference" text,
	"overage_units" integer DEFAULT 0 NOT NULL,
	"response" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"released_at" timestamp with time zone,
	CONSTRAINT "reservation_idempotency" UNIQUE("organization_id","idempotency_key")
);
--> statement-breakpoint
CREATE TABLE "usage_counter" (
	"organization_id" text NOT NULL,
	"resource" text NOT NULL,
	"used" integer DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "usage_counter_organization_id_resource_pk" PRIMARY KEY("organization_id","resource"),
	CONSTRAINT "usage_used_non_negative" CHECK ("usage_counter"."used" >= 0)
);
--> statement-breakpoint
ALTER TABLE "organization_to_account" ADD COLUMN "soft_limits" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "plan" ADD COLUMN "soft_limits" jsonb DEFAULT '{}'::jsonb NOT NULL;