-- Leases: a reservation may hold its capacity for a time (`lease_seconds`) and be renewed; one not
-- renewed by its `expires_at` is released by the sweep (`billing_expire_leases`), its quantity
-- counted out exactly once. Every release now says why (`release_reason`).
ALTER TABLE "reservation" ADD COLUMN "release_reason" text;--> statement-breakpoint
ALTER TABLE "reservation" ADD COLUMN "lease_seconds" integer;--> statement-breakpoint
ALTER TABLE "reservation" ADD COLUMN "expires_at" timestamp with time zone;--> statement-breakpoint
-- Reservations released before this migration were released by a caller.
UPDATE "reservation" SET "release_reason" = 'released' WHERE "released_at" IS NOT NULL;
--> statement-breakpoint
CREATE INDEX "reservation_lease_due_idx" ON "reservation" USING btree ("expires_at") WHERE "reservation"."released_at" IS NULL AND "reservation"."expires_at" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "reservation_active_idx" ON "reservation" USING btree ("organization_id","resource") WHERE "reservation"."released_at" IS NULL;--> statement-breakpoint
CREATE INDEX "reservation_tenant_created_idx" ON "reservation" USING btree ("organization_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
ALTER TABLE "reservation" ADD CONSTRAINT "reservation_release_reason" CHECK (("reservation"."released_at" IS NULL) = ("reservation"."release_reason" IS NULL) AND "reservation"."release_reason" IN ('released', 'expired'));--> statement-breakpoint
ALTER TABLE "reservation" ADD CONSTRAINT "reservation_lease_is_whole" CHECK (("reservation"."lease_seconds" IS NULL) = ("reservation"."expires_at" IS NULL));--> statement-breakpoint
-- A tenant's policy for one resource, as src/domain/limits/effective-limits.ts `resourcePolicy`
-- computes it: the override (unlimited, or an allowance) else the plan's limit; the tenant's own
-- soft-limit policy when it has the resource's key (JSON null = hard) else the plan's. One SELECT
-- in SQL: PostgreSQL inlines it into the statement that calls it. No row: no such tenant.
CREATE FUNCTION billing_policy(p_tenant text, p_resource text)
RETURNS TABLE (plan_id text, "limit" integer, soft jsonb)
LANGUAGE sql STABLE
AS $$
	SELECT
		p.id,
		CASE p_resource
			WHEN 'deployments' THEN
				CASE WHEN o.deployment_unlimited THEN NULL ELSE coalesce(o.deployment_allowance, p.deployments) END
			ELSE
				CASE WHEN o.worker_unlimited THEN NULL ELSE coalesce(o.worker_allowance, p.self_hosted_workers) END
		END,
		CASE WHEN o.soft_limits ? p_resource THEN o.soft_limits -> p_resource ELSE p.soft_limits -> p_resource END
	FROM organization_to_account o
	JOIN customer c ON c.id = o.customer_id
	JOIN plan p ON p.id = c.plan_id
	WHERE o.organization_id = p_tenant
$$;
--> statement-breakpoint
-- billing_reserve as in 0006, with a lease: `p_lease_seconds` (10–86,400, NULL = none; a default,
-- so that a replica still running the code before this migration calls it with seven arguments
-- and gets what it got) holds the grant until `expires_at` = the decision's time (the database's
-- clock) + the lease. The result gains `expires_at`: for a grant its lease's end, for a replay the
-- reservation's as it is now (a renewal moves it), NULL without a lease. The policy is read by
-- billing_policy, as billing_renew reads it. A replica before this migration selects the columns it
-- knows, by name: its prepared statement's result keeps its type.
DROP FUNCTION billing_reserve(text, text, integer, text, text, text, double precision);
--> statement-breakpoint
CREATE FUNCTION billing_reserve(
	p_tenant text,
	p_resource text,
	p_quantity integer,
	p_key text,
	p_fingerprint text,
	p_reference text,
	p_not_after_ms double precision,
	p_lease_seconds integer DEFAULT NULL
) RETURNS TABLE (
	outcome text,
	reservation_id uuid,
	resource text,
	quantity integer,
	used integer,
	"limit" integer,
	overage boolean,
	plan_id text,
	released_at timestamptz,
	expires_at timestamptz
)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
	-- The most a counter holds: `usage_counter.used` is an integer.
	c_max_used constant bigint := 2147483647;
	v_deadline timestamptz := to_timestamp(p_not_after_ms / 1000.0);
	v_limit integer;
	-- The resource's soft-limit policy: a JSON object when soft, anything else when hard.
	v_soft jsonb;
	-- The most the tenant may hold: the limit, or limit + overage_cap when soft, and never more
	-- than a counter holds.
	v_ceiling bigint;
	v_id uuid;
	v_used integer;
	v_granted boolean;
	v_overage integer;
	v_first record;
BEGIN
	IF p_resource IS NULL OR p_resource NOT IN ('deployments', 'self_hosted_workers') THEN
		RAISE EXCEPTION 'billing_reserve: unknown resource %', p_resource USING ERRCODE = '22023';
	END IF;
	IF p_quantity IS NULL OR p_quantity < 1 THEN
		RAISE EXCEPTION 'billing_reserve: quantity must be at least 1' USING ERRCODE = '22023';
	END IF;
	IF p_lease_seconds IS NOT NULL AND (p_lease_seconds < 10 OR p_lease_seconds > 86400) THEN
		RAISE EXCEPTION 'billing_reserve: a lease is 10 to 86400 seconds, not %', p_lease_seconds
			USING ERRCODE = '22023';
	END IF;

	-- Already late (queued for a connection while the database was away): claim nothing.
	IF clock_timestamp() >= v_deadline THEN
		outcome := 'abandoned';
		RETURN NEXT;
		RETURN;
	END IF;

	SELECT pol.plan_id, pol."limit", pol.soft INTO plan_id, v_limit, v_soft
	FROM billing_policy(p_tenant, p_resource) AS pol;
	IF NOT FOUND THEN
		outcome := 'tenant_not_found';
		RETURN NEXT;
		RETURN;
	END IF;

	-- As src/domain/limits/usage-policy.ts `ceilingOf` (NULL: no ceiling of the policy's)...
	IF v_limit IS NULL THEN
		v_ceiling := NULL;
	ELSIF jsonb_typeof(v_soft) IS DISTINCT FROM 'object' THEN
		v_ceiling := v_limit;
	ELSIF jsonb_typeof(v_soft -> 'overage_cap') = 'null' THEN
		v_ceiling := NULL;
	ELSIF jsonb_typeof(v_soft -> 'overage_cap') = 'number' THEN
		-- In numeric: a JSON number may be any size (the contract keeps caps within 1,000,000,000).
		v_ceiling := least(v_limit + (v_soft ->> 'overage_cap')::numeric, c_max_used);
	ELSE
		-- Never read a malformed policy as "no ceiling".
		RAISE EXCEPTION 'billing_reserve: malformed soft limit for % of %: %', p_resource, p_tenant, v_soft
			USING ERRCODE = '22023';
	END IF;
	-- ...and then the store's own: what a counter holds.
	v_ceiling := least(coalesce(v_ceiling, c_max_used), c_max_used);

	-- The key is claimed first. A concurrent transaction that inserted the same key makes this
	-- INSERT wait for it: if it commits, this is a conflict (DO NOTHING) and its answer is replayed
	-- below; if it rolls back, or deletes its claim (a refusal), the insert goes ahead and this
	-- request is judged on its own. A lease's end is set again once the grant is decided.
	INSERT INTO reservation AS r
		(organization_id, resource, quantity, idempotency_key, request_fingerprint, reference, response,
			lease_seconds, expires_at)
	VALUES (p_tenant, p_resource, p_quantity, p_key, p_fingerprint, p_reference, '{}'::jsonb,
		p_lease_seconds, clock_timestamp() + make_interval(secs => p_lease_seconds))
	ON CONFLICT ON CONSTRAINT reservation_idempotency DO NOTHING
	RETURNING r.id INTO v_id;

	IF v_id IS NULL THEN
		SELECT r.request_fingerprint, r.response, r.released_at, r.expires_at INTO v_first
		FROM reservation r
		WHERE r.organization_id = p_tenant AND r.idempotency_key = p_key;
		IF NOT FOUND OR v_first.request_fingerprint IS DISTINCT FROM p_fingerprint THEN
			outcome := 'key_reused';
			plan_id := NULL;
			RETURN NEXT;
			RETURN;
		END IF;
		-- The first answer's facts. Rows written before billing_reserve hold the whole wire body,
		-- rows written by it the same keys: both read alike. And what became of it since.
		outcome := 'replayed';
		reservation_id := (v_first.response ->> 'reservation_id')::uuid;
		resource := v_first.response ->> 'resource';
		quantity := (v_first.response ->> 'quantity')::integer;
		used := (v_first.response ->> 'used')::integer;
		"limit" := (v_first.response ->> 'limit')::integer;
		overage := (v_first.response ->> 'overage')::boolean;
		plan_id := NULL;
		released_at := v_first.released_at;
		expires_at := v_first.expires_at;
		RETURN NEXT;
		RETURN;
	END IF;

	-- The counter row, created at 0 the first time (never deleted).
	PERFORM 1 FROM usage_counter u WHERE u.organization_id = p_tenant AND u.resource = p_resource;
	IF NOT FOUND THEN
		INSERT INTO usage_counter AS u (organization_id, resource) VALUES (p_tenant, p_resource)
		ON CONFLICT ON CONSTRAINT usage_counter_organization_id_resource_pk DO NOTHING;
	END IF;

	-- The decision: one conditional UPDATE of the tenant's counter row. Concurrent grants (from any
	-- replica) queue on that row's lock, and each re-checks the condition against the row as the
	-- one before it left it, so no two can both take the last unit. The sum is a bigint, and the
	-- integer it is written to is only written when the sum is at most the ceiling: no overflow.
	UPDATE usage_counter AS u
	SET used = u.used + p_quantity, updated_at = now()
	WHERE u.organization_id = p_tenant AND u.resource = p_resource
		AND u.used::bigint + p_quantity <= v_ceiling
	RETURNING u.used INTO v_used;
	v_granted := FOUND;

	-- The UPDATE may have waited for the row: a decision reached at or after the deadline is not
	-- kept, granted or refused. Nothing of it is: the claim goes (a request waiting on this key
	-- then goes ahead), and so does the unit taken, unseen by anyone (the row is locked until this
	-- call commits). So no lease outlives a caller that was told its request failed.
	IF clock_timestamp() >= v_deadline THEN
		IF v_granted THEN
			UPDATE usage_counter AS u
			SET used = u.used - p_quantity
			WHERE u.organization_id = p_tenant AND u.resource = p_resource;
		END IF;
		DELETE FROM reservation r WHERE r.id = v_id;
		outcome := 'abandoned';
		plan_id := NULL;
		RETURN NEXT;
		RETURN;
	END IF;

	IF NOT v_granted THEN
		-- A refusal keeps nothing either.
		DELETE FROM reservation r WHERE r.id = v_id;
		SELECT u.used INTO v_used
		FROM usage_counter u
		WHERE u.organization_id = p_tenant AND u.resource = p_resource;
		outcome := 'refused';
		used := v_used;
		"limit" := v_limit;
		RETURN NEXT;
		RETURN;
	END IF;

	-- Units granted past the limit (soft limits only), billed as overage.
	v_overage := CASE WHEN v_limit IS NULL THEN 0 ELSE greatest(0, least(p_quantity, v_used - v_limit)) END;
	-- The answer's facts, in the keys of the wire body (`remaining` included, for any replica
	-- still running the code that replays the stored body as it is). The lease runs from now: the
	-- decision, not the claim (which may have waited for the counter's lock).
	UPDATE reservation r
	SET overage_units = v_overage,
		expires_at = clock_timestamp() + make_interval(secs => p_lease_seconds),
		response = jsonb_build_object(
			'reservation_id', v_id,
			'resource', p_resource,
			'quantity', p_quantity,
			'used', v_used,
			'limit', v_limit,
			'remaining', CASE WHEN v_limit IS NULL THEN NULL ELSE greatest(0, v_limit - v_used) END,
			'overage', v_overage > 0
		)
	WHERE r.id = v_id
	RETURNING r.expires_at INTO expires_at;

	outcome := 'granted';
	reservation_id := v_id;
	resource := p_resource;
	quantity := p_quantity;
	used := v_used;
	"limit" := v_limit;
	overage := v_overage > 0;
	RETURN NEXT;
	RETURN;
END;
$$;
--> statement-breakpoint
-- billing_release as in 0004, saying why: a reservation whose lease has ended (not yet swept) is
-- released as `expired` — the outcome too — and any other as `released`. It answers a row now:
-- `outcome` first (a replica before this migration reads just that column, by its alias), then
-- what was released (for an expiry's report). Two releases of one reservation queue on its row.
DROP FUNCTION billing_release(text, uuid);
--> statement-breakpoint
CREATE FUNCTION billing_release(p_tenant text, p_reservation uuid)
RETURNS TABLE (outcome text, resource text, quantity integer, reference text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
	v_reason text;
BEGIN
	UPDATE reservation r
	SET released_at = clock_timestamp(),
		release_reason = CASE WHEN r.expires_at <= clock_timestamp() THEN 'expired' ELSE 'released' END
	WHERE r.id = p_reservation AND r.organization_id = p_tenant AND r.released_at IS NULL
	RETURNING r.resource, r.quantity, r.reference, r.release_reason INTO resource, quantity, reference, v_reason;
	IF FOUND THEN
		UPDATE usage_counter u
		SET used = greatest(u.used - quantity, 0), updated_at = now()
		WHERE u.organization_id = p_tenant AND u.resource = billing_release.resource;
		outcome := v_reason;
		RETURN NEXT;
		RETURN;
	END IF;
	PERFORM 1 FROM reservation r WHERE r.id = p_reservation AND r.organization_id = p_tenant;
	outcome := CASE WHEN FOUND THEN 'already_released' ELSE 'not_found' END;
	RETURN NEXT;
	RETURN;
END;
$$;
--> statement-breakpoint
-- billing_renew: extends a lease to now + `p_lease_seconds` (NULL: the length last granted). One
-- row, `outcome` one of
--   renewed      the reservation's facts with the new expires_at, `used` and `limit` as they are now
--   expired      its lease had ended: released as `expired` — by this call when `released_at` is
--                this call's (`expired_now` true), else by the sweep or a release before
--   released     released by a caller before
--   not_leased   a reservation without a lease (it lives until released)
--   not_found    no such reservation for this tenant
-- The row is locked first (FOR UPDATE): a renewal and the sweep queue on it, and whichever goes
-- second sees what the first did — exactly one of them wins.
CREATE FUNCTION billing_renew(p_tenant text, p_reservation uuid, p_lease_seconds integer)
RETURNS TABLE (
	outcome text,
	reservation_id uuid,
	resource text,
	quantity integer,
	used integer,
	"limit" integer,
	overage boolean,
	expires_at timestamptz,
	expired_now boolean,
	reference text
)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
	v_row record;
BEGIN
	IF p_lease_seconds IS NOT NULL AND (p_lease_seconds < 10 OR p_lease_seconds > 86400) THEN
		RAISE EXCEPTION 'billing_renew: a lease is 10 to 86400 seconds, not %', p_lease_seconds
			USING ERRCODE = '22023';
	END IF;
	SELECT r.* INTO v_row
	FROM reservation r
	WHERE r.id = p_reservation AND r.organization_id = p_tenant
	FOR UPDATE;
	IF NOT FOUND THEN
		outcome := 'not_found';
		RETURN NEXT;
		RETURN;
	END IF;
	reservation_id := v_row.id;
	resource := v_row.resource;
	quantity := v_row.quantity;
	reference := v_row.reference;
	overage := (v_row.response ->> 'overage')::boolean;
	expires_at := v_row.expires_at;
	expired_now := false;
	IF v_row.released_at IS NOT NULL THEN
		outcome := CASE WHEN v_row.release_reason = 'expired' THEN 'expired' ELSE 'released' END;
		RETURN NEXT;
		RETURN;
	END IF;
	IF v_row.expires_at IS NULL THEN
		outcome := 'not_leased';
		RETURN NEXT;
		RETURN;
	END IF;
	IF v_row.expires_at <= clock_timestamp() THEN
		-- Ended, not swept yet: released here, as the sweep would have.
		UPDATE reservation r SET released_at = clock_timestamp(), release_reason = 'expired'
		WHERE r.id = v_row.id;
		UPDATE usage_counter u
		SET used = greatest(u.used - v_row.quantity, 0), updated_at = now()
		WHERE u.organization_id = p_tenant AND u.resource = v_row.resource;
		outcome := 'expired';
		expired_now := true;
		RETURN NEXT;
		RETURN;
	END IF;
	UPDATE reservation r
	SET lease_seconds = coalesce(p_lease_seconds, r.lease_seconds),
		expires_at = clock_timestamp() + make_interval(secs => coalesce(p_lease_seconds, r.lease_seconds))
	WHERE r.id = v_row.id
	RETURNING r.expires_at INTO expires_at;
	SELECT u.used INTO used
	FROM usage_counter u WHERE u.organization_id = p_tenant AND u.resource = v_row.resource;
	SELECT pol."limit" INTO "limit" FROM billing_policy(p_tenant, v_row.resource) AS pol;
	outcome := 'renewed';
	RETURN NEXT;
	RETURN;
END;
$$;
--> statement-breakpoint
-- billing_expire_leases: releases up to `p_max` leases that have ended, as `expired`, and counts
-- their quantities out; returns each one released. Safe with any number of replicas sweeping at
-- once: each lease is taken by one (FOR UPDATE SKIP LOCKED; a lease another sweep or a renewal
-- holds is left for the next sweep), and re-checked once locked (a renewal that committed first
-- moved its end). Counters are updated in one order (tenant, resource), so two sweeps never
-- deadlock on them.
CREATE FUNCTION billing_expire_leases(p_max integer)
RETURNS TABLE (reservation_id uuid, tenant_id text, resource text, quantity integer, reference text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
	v_expired jsonb;
	v_counted record;
BEGIN
	WITH due AS (
		SELECT r.id FROM reservation r
		WHERE r.released_at IS NULL AND r.expires_at <= clock_timestamp()
		ORDER BY r.expires_at
		LIMIT p_max
		FOR UPDATE SKIP LOCKED
	), expired AS (
		UPDATE reservation r
		SET released_at = clock_timestamp(), release_reason = 'expired'
		FROM due
		WHERE r.id = due.id
		RETURNING r.id, r.organization_id, r.resource, r.quantity, r.reference
	)
	SELECT coalesce(jsonb_agg(jsonb_build_object(
		'reservation_id', e.id, 'tenant_id', e.organization_id, 'resource', e.resource,
		'quantity', e.quantity, 'reference', e.reference)), '[]'::jsonb)
	INTO v_expired
	FROM expired e;

	FOR v_counted IN
		SELECT e ->> 'tenant_id' AS tenant_id, e ->> 'resource' AS resource, sum((e ->> 'quantity')::integer) AS total
		FROM jsonb_array_elements(v_expired) AS e
		GROUP BY 1, 2
		ORDER BY 1, 2
	LOOP
		UPDATE usage_counter u
		SET used = greatest(u.used - v_counted.total, 0), updated_at = now()
		WHERE u.organization_id = v_counted.tenant_id AND u.resource = v_counted.resource;
	END LOOP;

	RETURN QUERY
	SELECT (e ->> 'reservation_id')::uuid, e ->> 'tenant_id', e ->> 'resource', (e ->> 'quantity')::integer,
		e ->> 'reference'
	FROM jsonb_array_elements(v_expired) AS e;
END;
$$;
