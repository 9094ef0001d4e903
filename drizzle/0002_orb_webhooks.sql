CREATE TABLE "webhook_event" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"customer_id" text,
	"outcome" text NOT NULL,
	"detail" jsonb,
	"raw_body" text NOT NULL
);
--> statement-breakpoint
ALTER TABLE "customer" ADD COLUMN "last_orb_event_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "webhook_event_customer_idx" ON "webhook_event" USING btree ("customer_id","received_at");