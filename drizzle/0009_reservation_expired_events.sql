-- `reservation.expired`: an event in the outbox whenever a lease ends unrenewed — by the sweep
-- (`billing_expire_leases`), or by a release or renewal that finds it ended — written by the very
-- statement that records the expiry, so the event exists if and only if the expiry commits. A
-- caller's release (`released`) writes nothing. The outbox's own trigger sends it on.
CREATE FUNCTION billing_reservation_expired_event() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	INSERT INTO billing_event (type, tenant_id, data)
	VALUES (
		'reservation.expired',
		NEW.organization_id,
		jsonb_build_object(
			'tenant_id', NEW.organization_id,
			'reservation_id', NEW.id,
			'resource', NEW.resource,
			'quantity', NEW.quantity,
			'reference', NEW.reference
		)
	);
	RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER reservation_expired_event
AFTER UPDATE OF release_reason ON reservation
FOR EACH ROW
WHEN (NEW.release_reason = 'expired' AND OLD.release_reason IS DISTINCT FROM 'expired')
EXECUTE FUNCTION billing_reservation_expired_event();
