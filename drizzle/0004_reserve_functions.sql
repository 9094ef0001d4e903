-- Reservations decided in one round trip: the service calls each function below as one prepared
-- statement (src/db/usage-store.ts). Each call is one statement, so one transaction: all of it or
-- nothing. Both run at READ COMMITTED (the default), where every statement inside takes a fresh
-- snapshot: after waiting for another transaction, the next statement sees what it committed.
--
-- billing_reserve: one row, `outcome` one of
--   granted          reservation_id, resource, quantity, used, limit, overage, plan_id
--   replayed         the first answer's facts, as recorded (plan_id NULL)
--   refused          used (the counter now), limit, plan_id; nothing recorded
--   key_reused       the key was first used for another request
--   tenant_not_found
--   abandoned        not decided before the caller's deadline; nothing recorded
--
-- The caller's deadline `p_not_after_ms` (ms since the epoch, NULL = none) comes from the
-- service's clock and is compared here with the database's clock (clock_timestamp(), the time
-- now, not the transaction's start): this assumes the two clocks agree (NTP), any skew between
-- them moves the cut-off by as much. The service also checks its own clock before sending.
CREATE OR REPLACE FUNCTION billing_reserve(
	p_tenant text,
	p_resource text,
	p_quantity integer,
	p_key text,
	p_fingerprint text,
	p_reference text,
	p_not_after_ms double precision
) RETURNS TABLE (
	outcome text,
	reservation_id uuid,
	resource text,
	quantity integer,
	used integer,
	"limit" integer,
	overage boolean,
	plan_id text
)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
	v_deadline timestamptz := to_timestamp(p_not_after_ms / 1000.0);
	v_limit integer;
	-- The resource's soft-limit policy: a JSON object when soft, anything else when hard.
	v_soft jsonb;
	-- The most the tenant may hold: the limit, or limit + overage_cap when soft; NULL = no ceiling.
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

	-- Already late (queued for a connection while the database was away): claim nothing.
	IF clock_timestamp() >= v_deadline THEN
		outcome := 'abandoned';
		RETURN NEXT;
		RETURN;
	END IF;

	-- The effective policy, as src/limits/effective-limits.ts `resourcePolicy` computes it: the
	-- tenant's override (unlimited, or an allowance) else the plan's limit; the tenant's own
	-- soft-limit policy when it has the resource's key (JSON null = hard) else the plan's.
	SELECT
		p.id,
		CASE p_resource
			WHEN 'deployments' THEN
				CASE WHEN o.deployment_unlimited THEN NULL ELSE coalesce(o.deployment_allowance, p.deployments) END
			ELSE
				CASE WHEN o.worker_unlimited THEN NULL ELSE coalesce(o.worker_allowance, p.self_hosted_workers) END
		END,
		CASE WHEN o.soft_limits ? p_resource THEN o.soft_limits -> p_resource ELSE p.soft_limits -> p_resource END
	INTO plan_id, v_limit, v_soft
	FROM organization_to_account o
	JOIN customer c ON c.id = o.customer_id
	JOIN plan p ON p.id = c.plan_id
	WHERE o.organization_id = p_tenant;
	IF NOT FOUND THEN
		outcome := 'tenant_not_found';
		RETURN NEXT;
		RETURN;
	END IF;

	-- As src/limits/usage-policy.ts `ceilingOf`.
	IF v_limit IS NULL THEN
		v_ceiling := NULL;
	ELSIF jsonb_typeof(v_soft) IS DISTINCT FROM 'object' THEN
		v_ceiling := v_limit;
	ELSIF jsonb_typeof(v_soft -> 'overage_cap') = 'null' THEN
		v_ceiling := NULL;
	ELSIF jsonb_typeof(v_soft -> 'overage_cap') = 'number' THEN
		v_ceiling := v_limit::bigint + (v_soft ->> 'overage_cap')::bigint;
	ELSE
		-- Never read a malformed policy as "no ceiling".
		RAISE EXCEPTION 'billing_reserve: malformed soft limit for % of %: %', p_resource, p_tenant, v_soft
			USING ERRCODE = '22023';
	END IF;

	-- The key is claimed first. A concurrent transaction that inserted the same key makes this
	-- INSERT wait for it: if it commits, this is a conflict (DO NOTHING) and its answer is replayed
	-- below; if it rolls back, or deletes its claim (a refusal), the insert goes ahead and this
	-- request is judged on its own.
	INSERT INTO reservation AS r
		(organization_id, resource, quantity, idempotency_key, request_fingerprint, reference, response)
	VALUES (p_tenant, p_resource, p_quantity, p_key, p_fingerprint, p_reference, '{}'::jsonb)
	ON CONFLICT ON CONSTRAINT reservation_idempotency DO NOTHING
	RETURNING r.id INTO v_id;

	IF v_id IS NULL THEN
		SELECT r.request_fingerprint, r.response INTO v_first
		FROM reservation r
		WHERE r.organization_id = p_tenant AND r.idempotency_key = p_key;
		IF NOT FOUND OR v_first.request_fingerprint IS DISTINCT FROM p_fingerprint THEN
			outcome := 'key_reused';
			plan_id := NULL;
			RETURN NEXT;
			RETURN;
		END IF;
		-- The first answer's facts. Rows written before this function hold the whole wire body,
		-- rows written by it the same keys: both read alike.
		outcome := 'replayed';
		reservation_id := (v_first.response ->> 'reservation_id')::uuid;
		resource := v_first.response ->> 'resource';
		quantity := (v_first.response ->> 'quantity')::integer;
		used := (v_first.response ->> 'used')::integer;
		"limit" := (v_first.response ->> 'limit')::integer;
		overage := (v_first.response ->> 'overage')::boolean;
		plan_id := NULL;
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
	-- one before it left it, so no two can both take the last unit.
	UPDATE usage_counter AS u
	SET used = u.used + p_quantity, updated_at = now()
	WHERE u.organization_id = p_tenant AND u.resource = p_resource
		AND (v_ceiling IS NULL OR u.used::bigint + p_quantity <= v_ceiling)
	RETURNING u.used INTO v_used;
	v_granted := FOUND;

	-- The UPDATE may have waited for the row: a decision reached at or after the deadline is not
	-- kept, granted or refused. Nothing of it is: the claim goes (a request waiting on this key
	-- then goes ahead), and so does the unit taken, unseen by anyone (the row is locked until this
	-- call commits).
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
	-- still running the code that replays the stored body as it is).
	UPDATE reservation r
	SET overage_units = v_overage,
		response = jsonb_build_object(
			'reservation_id', v_id,
			'resource', p_resource,
			'quantity', p_quantity,
			'used', v_used,
			'limit', v_limit,
			'remaining', CASE WHEN v_limit IS NULL THEN NULL ELSE greatest(0, v_limit - v_used) END,
			'overage', v_overage > 0
		)
	WHERE r.id = v_id;

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
-- billing_release: 'released' (the counter goes down by the quantity, never below 0: a
-- reconciliation may have counted it out already), 'already_released', or 'not_found' (also for
-- another tenant's reservation). Two releases of one reservation queue on its row: one counts.
CREATE OR REPLACE FUNCTION billing_release(p_tenant text, p_reservation uuid) RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
	v_resource text;
	v_quantity integer;
BEGIN
	UPDATE reservation r
	SET released_at = now()
	WHERE r.id = p_reservation AND r.organization_id = p_tenant AND r.released_at IS NULL
	RETURNING r.resource, r.quantity INTO v_resource, v_quantity;
	IF FOUND THEN
		UPDATE usage_counter u
		SET used = greatest(u.used - v_quantity, 0), updated_at = now()
		WHERE u.organization_id = p_tenant AND u.resource = v_resource;
		RETURN 'released';
	END IF;
	PERFORM 1 FROM reservation r WHERE r.id = p_reservation AND r.organization_id = p_tenant;
	RETURN CASE WHEN FOUND THEN 'already_released' ELSE 'not_found' END;
END;
$$;
