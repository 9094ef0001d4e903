-- Counts are PostgreSQL integers (at most 2,147,483,647). From this migration on the service takes
-- at most 1,000,000,000 for any count (`MAX_COUNT`, src/contract/plans.ts), so that a limit plus
-- its overage cap always fits, and `billing_reserve` never takes a counter past the integer's
-- maximum. A limit or an overage cap stored before the bound, past it, is brought down to it here
-- (no deployment count comes near either number: both mean "as good as unlimited"), each change
-- audited as `migration:0006` and every replica told to forget its cached answers.
--
-- A count brought down to the bound; NULL (unlimited) stays NULL — never `least`, which skips NULLs.
CREATE FUNCTION pg_temp.bounded_count(p_count integer) RETURNS integer
LANGUAGE sql IMMUTABLE
AS $$ SELECT CASE WHEN p_count > 1000000000 THEN 1000000000 ELSE p_count END $$;
--> statement-breakpoint
-- The soft-limit policies, with any overage cap past the bound brought down to it. A policy that
-- is not an object with a numeric cap (hard: JSON null; malformed) is left as it is.
CREATE FUNCTION pg_temp.bounded_soft_limits(p_policies jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $$
	SELECT CASE WHEN jsonb_typeof(p_policies) IS DISTINCT FROM 'object' THEN p_policies ELSE (
		SELECT coalesce(jsonb_object_agg(
			e.key,
			CASE
				WHEN jsonb_typeof(e.value -> 'overage_cap') = 'number'
					AND (e.value ->> 'overage_cap')::numeric > 1000000000
				THEN jsonb_set(e.value, '{overage_cap}', '1000000000'::jsonb)
				ELSE e.value
			END
		), '{}'::jsonb)
		FROM jsonb_each(p_policies) AS e
	) END
$$;
--> statement-breakpoint
WITH bounded AS (
	UPDATE plan AS p
	SET deployments = pg_temp.bounded_count(p.deployments),
		self_hosted_workers = pg_temp.bounded_count(p.self_hosted_workers),
		soft_limits = pg_temp.bounded_soft_limits(p.soft_limits),
		updated_at = now()
	FROM plan AS before
	WHERE before.id = p.id
		AND (p.deployments > 1000000000
			OR p.self_hosted_workers > 1000000000
			OR pg_temp.bounded_soft_limits(p.soft_limits) IS DISTINCT FROM p.soft_limits)
	RETURNING p.id,
		jsonb_build_object('deployments', before.deployments, 'self_hosted_workers',
			before.self_hosted_workers, 'soft_limits', before.soft_limits) AS before,
		jsonb_build_object('deployments', p.deployments, 'self_hosted_workers', p.self_hosted_workers,
			'soft_limits', p.soft_limits) AS after
)
INSERT INTO audit_log (actor, action, subject_type, subject_id, before, after)
SELECT 'migration:0006', 'plan.bound_counts', 'plan', id, before, after FROM bounded;
--> statement-breakpoint
WITH bounded AS (
	UPDATE organization_to_account AS o
	SET deployment_allowance = pg_temp.bounded_count(o.deployment_allowance),
		worker_allowance = pg_temp.bounded_count(o.worker_allowance),
		soft_limits = pg_temp.bounded_soft_limits(o.soft_limits),
		updated_at = now()
	FROM organization_to_account AS before
	WHERE before.id = o.id
		AND (o.deployment_allowance > 1000000000
			OR o.worker_allowance > 1000000000
			OR pg_temp.bounded_soft_limits(o.soft_limits) IS DISTINCT FROM o.soft_limits)
	RETURNING o.organization_id,
		jsonb_build_object('deployment_allowance', before.deployment_allowance, 'worker_allowance',
			before.worker_allowance, 'soft_limits', before.soft_limits) AS before,
		jsonb_build_object('deployment_allowance', o.deployment_allowance, 'worker_allowance',
			o.worker_allowance, 'soft_limits', o.soft_limits) AS after
)
INSERT INTO audit_log (actor, action, subject_type, subject_id, before, after)
SELECT 'migration:0006', 'tenant.bound_counts', 'tenant', organization_id, before, after FROM bounded;
--> statement-breakpoint
-- Delivered when the migration commits, to replicas still serving: cached limits may have changed.
SELECT pg_notify('billing_limits_changed', '{"all":true}')
WHERE EXISTS (SELECT 1 FROM audit_log WHERE actor = 'migration:0006');
--> statement-breakpoint
DROP FUNCTION pg_temp.bounded_count(integer), pg_temp.bounded_soft_limits(jsonb);
--> statement-breakpoint
-- billing_reserve as in 0004, with two changes:
--   * a replay also answers `released_at`: when the reservation was released since its grant
--     (NULL while it holds), so that a replayed grant never looks held when it is not;
--   * no grant takes a counter past 2,147,483,647 (the integer's maximum), whatever the policy:
--     an unlimited resource stops there too, refused (`limit` NULL) rather than failing the call.
-- Its result gains a column, which CREATE OR REPLACE cannot do: the function is dropped and made
-- anew, in this migration's transaction. A replica still running the code before it selects the
-- columns it knows, by name, and goes on working.
--
-- billing_reserve: one row, `outcome` one of
--   granted          reservation_id, resource, quantity, used, limit, overage, plan_id
--   replayed         the first answer's facts, as recorded, and released_at (plan_id NULL)
--   refused          used (the counter now), limit, plan_id; nothing recorded
--   key_reused       the key was first used for another request
--   tenant_not_found
--   abandoned        not decided before the caller's deadline; nothing recorded
--
-- The caller's deadline `p_not_after_ms` (ms since the epoch, NULL = none) comes from the
-- service's clock and is compared here with the database's clock (clock_timestamp(), the time
-- now, not the transaction's start): this assumes the two clocks agree (NTP), any skew between
-- them moves the cut-off by as much. The service also checks its own clock before sending.
DROP FUNCTION billing_reserve(text, text, integer, text, text, text, double precision);
--> statement-breakpoint
CREATE FUNCTION billing_reserve(
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
	plan_id text,
	released_at timestamptz
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

	-- Already late (queued for a connection while the database was away): claim nothing.
	IF clock_timestamp() >= v_deadline THEN
		outcome := 'abandoned';
		RETURN NEXT;
		RETURN;
	END IF;

	-- The effective policy, as src/domain/limits/effective-limits.ts `resourcePolicy` computes it:
	-- the tenant's override (unlimited, or an allowance) else the plan's limit; the tenant's own
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
	-- request is judged on its own.
	INSERT INTO reservation AS r
		(organization_id, resource, quantity, idempotency_key, request_fingerprint, reference, response)
	VALUES (p_tenant, p_resource, p_quantity, p_key, p_fingerprint, p_reference, '{}'::jsonb)
	ON CONFLICT ON CONSTRAINT reservation_idempotency DO NOTHING
	RETURNING r.id INTO v_id;

	IF v_id IS NULL THEN
		SELECT r.request_fingerprint, r.response, r.released_at INTO v_first
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
