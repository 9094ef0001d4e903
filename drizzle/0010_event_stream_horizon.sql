-- How far the outbox was pruned, per event type: a change stream resumed from an earlier sequence
-- may have missed events, and says so (the subscriber refetches) instead of resuming silently.
CREATE TABLE "billing_event_pruned" (
	"type" text PRIMARY KEY NOT NULL,
	"through_sequence" bigint NOT NULL
);
