-- A tenant's reservations and an endpoint's deliveries, newest first: their indexes were
-- `DESC NULLS LAST`, which a plain `ORDER BY created_at DESC, id DESC` (NULLS FIRST, the default
-- for DESC) cannot use, so both listings read every row of the tenant or endpoint and sorted them.
-- Recreated `DESC NULLS FIRST`, as 0012's audit-log indexes are: the listing reads its page off
-- the index and stops.
DROP INDEX "reservation_tenant_created_idx";--> statement-breakpoint
DROP INDEX "webhook_delivery_endpoint_created_idx";--> statement-breakpoint
CREATE INDEX "reservation_tenant_created_idx" ON "reservation" USING btree ("organization_id","created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "webhook_delivery_endpoint_created_idx" ON "webhook_delivery" USING btree ("endpoint_id","created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);