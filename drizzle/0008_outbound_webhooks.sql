-- Outbound webhooks from a transactional outbox: every event the service sends is a row of
-- `billing_event`, written in the transaction of the change that caused it; a trigger fans it out
-- to one `webhook_delivery` per enabled endpoint that takes its type, and wakes the dispatchers.
CREATE TABLE "billing_event" (
	"sequence" bigserial PRIMARY KEY NOT NULL,
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"type" text NOT NULL,
	"tenant_id" text,
	"data" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "billing_event_id_unique" UNIQUE("id")
);
--> statement-breakpoint
CREATE TABLE "webhook_delivery" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"endpoint_id" uuid NOT NULL,
	"event_sequence" bigint NOT NULL,
	"tenant_id" text,
	"event_type" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_status_code" integer,
	"last_error" text,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"delivered_at" timestamp with time zone,
	CONSTRAINT "webhook_delivery_once" UNIQUE("endpoint_id","event_sequence"),
	CONSTRAINT "webhook_delivery_status" CHECK ("webhook_delivery"."status" IN ('pending', 'delivered', 'failed'))
);
--> statement-breakpoint
CREATE TABLE "webhook_endpoint" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"url" text NOT NULL,
	"events" jsonb,
	"description" text DEFAULT '' NOT NULL,
	"secret" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"disabled_at" timestamp with time zone,
	"disabled_reason" text,
	"failing_since" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "webhook_delivery" ADD CONSTRAINT "webhook_delivery_endpoint_id_webhook_endpoint_id_fk" FOREIGN KEY ("endpoint_id") REFERENCES "public"."webhook_endpoint"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_delivery" ADD CONSTRAINT "webhook_delivery_event_sequence_billing_event_sequence_fk" FOREIGN KEY ("event_sequence") REFERENCES "public"."billing_event"("sequence") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "billing_event_tenant_idx" ON "billing_event" USING btree ("tenant_id","sequence");--> statement-breakpoint
CREATE INDEX "webhook_delivery_pending_idx" ON "webhook_delivery" USING btree ("endpoint_id","tenant_id","event_sequence") WHERE "webhook_delivery"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "webhook_delivery_due_idx" ON "webhook_delivery" USING btree ("next_attempt_at") WHERE "webhook_delivery"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "webhook_delivery_endpoint_created_idx" ON "webhook_delivery" USING btree ("endpoint_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
-- One INSERT … SELECT per statement (a catalog change may write an event for every tenant on a
-- plan at once). The NOTIFY is delivered at commit, and only then: a dispatcher woken by it finds
-- the deliveries committed. Identical payloads in one transaction are delivered once.
CREATE FUNCTION billing_fan_out_events() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	INSERT INTO webhook_delivery (endpoint_id, event_sequence, tenant_id, event_type)
	SELECT endpoint.id, inserted.sequence, inserted.tenant_id, inserted.type
	FROM inserted
	JOIN webhook_endpoint AS endpoint
		ON endpoint.disabled_at IS NULL
		AND (endpoint.events IS NULL OR endpoint.events @> jsonb_build_array(inserted.type));
	IF FOUND THEN
		PERFORM pg_notify('billing_outbox', '');
	END IF;
	RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER billing_event_fan_out
AFTER INSERT ON billing_event
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION billing_fan_out_events();
