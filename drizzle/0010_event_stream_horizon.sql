-- The change stream (`GET /billing/limits/changes`): how far the outbox was pruned, per event
-- type, so that a stream resumed from an earlier sequence says it may have missed events (the
-- subscriber refetches) instead of resuming silently; and an index to read one type's events.
CREATE TABLE "billing_event_pruned" (
	"type" text PRIMARY KEY NOT NULL,
	"through_sequence" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "billing_event_type_idx" ON "billing_event" USING btree ("type","sequence");