-- Threshold alerts: `limit.warning`, `limit.reached` and `limit.resolved`, written into the outbox
-- (`billing_event`) by the statement that moves a tenant's usage or limit across a threshold, so an
-- alert exists if and only if its change commits, on every path that changes a counter (grants,
-- releases, renewals, the lease sweep, reconcile) without any of them calling anything: a trigger
-- on `usage_counter`. A change of limits is known by its `limits.changed` event (every writer of
-- limits records one per tenant whose effective limits changed, in its transaction): a trigger on
-- those re-assesses the tenant. Only a refusal changes no row; the store assesses it after the
-- refused call (src/db/usage-store.ts).
--
-- The state per tenant × resource (`billing_alert_state`) moves only on a transition, under its
-- row's lock, so each transition is sent once however many requests or replicas cross it. The
-- thresholds are in `billing_alert_settings`, written by each replica as it starts.
CREATE TABLE "billing_alert_settings" (
	"id" boolean PRIMARY KEY DEFAULT true NOT NULL,
	"warning_percent" integer DEFAULT 80 NOT NULL,
	"hysteresis_percent" integer DEFAULT 10 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "billing_alert_settings_one_row" CHECK ("billing_alert_settings"."id"),
	CONSTRAINT "billing_alert_settings_percentages" CHECK ("billing_alert_settings"."warning_percent" BETWEEN 1 AND 100 AND "billing_alert_settings"."hysteresis_percent" >= 0 AND "billing_alert_settings"."hysteresis_percent" < "billing_alert_settings"."warning_percent")
);
--> statement-breakpoint
CREATE TABLE "billing_alert_state" (
	"organization_id" text NOT NULL,
	"resource" text NOT NULL,
	"state" text DEFAULT 'ok' NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "billing_alert_state_organization_id_resource_pk" PRIMARY KEY("organization_id","resource"),
	CONSTRAINT "billing_alert_state_state" CHECK ("billing_alert_state"."state" IN ('ok', 'warning', 'reached'))
);
--> statement-breakpoint
INSERT INTO "billing_alert_settings" DEFAULT VALUES ON CONFLICT DO NOTHING;
--> statement-breakpoint
-- The next state of one tenant × resource: pure, so that the test compares it with its own model.
-- `p_move` says which way usage went against the limit: `rose` (usage up, or the limit lowered or
-- made finite), `fell` (usage down, or the limit raised) or `refused` (a reservation was refused).
-- The levels, in whole numbers (no rounding): reached when used ≥ limit; the warning level when
-- used × 100 ≥ limit × warning%; below the resolve level when used × 100 < limit × (warning% −
-- hysteresis%). Which way matters: rising only ever escalates (ok → warning → reached; a grant
-- while `reached` below the limit — reached by a refusal — stays `reached`), falling only ever
-- de-escalates (reached → warning below the limit, either → ok below the resolve level; between
-- the resolve and the warning level nothing moves: the hysteresis). A refusal is `reached`
-- whatever the count (the tenant asked for more than was left). No limit (unlimited): `ok`.
CREATE FUNCTION billing_alert_next_state(
	p_state text,
	p_move text,
	p_used integer,
	p_limit integer,
	p_warning_percent integer,
	p_hysteresis_percent integer
) RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
	v_reached boolean := p_used >= p_limit;
	v_warning boolean := p_used::bigint * 100 >= p_limit::bigint * p_warning_percent;
	v_resolved boolean := p_used::bigint * 100 < p_limit::bigint * (p_warning_percent - p_hysteresis_percent);
BEGIN
	IF p_limit IS NULL THEN
		RETURN 'ok';
	END IF;
	CASE p_move
		WHEN 'refused' THEN
			RETURN 'reached';
		WHEN 'rose' THEN
			IF v_reached THEN
				RETURN 'reached';
			ELSIF v_warning AND p_state = 'ok' THEN
				RETURN 'warning';
			END IF;
		WHEN 'fell' THEN
			IF v_resolved THEN
				RETURN 'ok';
			ELSIF NOT v_reached AND p_state = 'reached' THEN
				RETURN 'warning';
			END IF;
		ELSE
			RAISE EXCEPTION 'billing_alert_next_state: unknown move %', p_move USING ERRCODE = '22023';
	END CASE;
	RETURN p_state;
END;
$$;
--> statement-breakpoint
-- Assesses one tenant × resource after a move, and on a transition records the new state and
-- writes ONE event (its data without `sequence`, added when sent); answers the event's type, or
-- NULL when nothing moved. The state row is locked first (made, at `ok`, the first time): two
-- transactions assessing the same tenant × resource — two replicas, a grant and a limit change, a
-- refusal and a release — take turns, and the second reads the state, the usage and the limit as
-- the first left them (each statement after the lock sees what committed before it; writers run
-- in READ COMMITTED). A usage change already holds its counter row, so the lock adds no waiting
-- to grants, and rows are locked counter first, then state, on every path.
--
-- The limit alerted on is `billing_policy`'s `limit`: the one every answer reports (`limit` of a
-- grant, of `/billing/usage`, of `/billing/limits`). For a hard limit it is what the tenant is held
-- to; for a soft limit it is where overage starts being billed — the line a customer crosses and
-- sales wants to hear about — while `limit + overage_cap` is only where a grant is refused (and a
-- refusal is `reached` anyway). Alerting at the cap would say nothing until the tenant is refused.
CREATE FUNCTION billing_assess_alert(p_tenant text, p_resource text, p_move text)
RETURNS text
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
	v_state text;
	v_next text;
	v_limit integer;
	v_used integer;
	v_warning integer;
	v_hysteresis integer;
	v_type text;
BEGIN
	-- A refusal while already `reached` moves nothing: answered without the state row's lock, so a
	-- crowd of refusals at a full limit does not queue on it (a release committed before this read
	-- has moved the state away and is seen; one committed after it followed the refusal anyway).
	IF p_move = 'refused' AND EXISTS (
		SELECT 1 FROM billing_alert_state s
		WHERE s.organization_id = p_tenant AND s.resource = p_resource AND s.state = 'reached'
	) THEN
		RETURN NULL;
	END IF;
	-- No such tenant: nothing to assess (and no state row made for it).
	PERFORM 1 FROM billing_policy(p_tenant, p_resource);
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	SELECT s.state INTO v_state
	FROM billing_alert_state s
	WHERE s.organization_id = p_tenant AND s.resource = p_resource
	FOR UPDATE;
	IF NOT FOUND THEN
		-- A concurrent first assessment makes this INSERT wait for it, then do nothing.
		INSERT INTO billing_alert_state (organization_id, resource) VALUES (p_tenant, p_resource)
		ON CONFLICT ON CONSTRAINT billing_alert_state_organization_id_resource_pk DO NOTHING;
		SELECT s.state INTO v_state
		FROM billing_alert_state s
		WHERE s.organization_id = p_tenant AND s.resource = p_resource
		FOR UPDATE;
	END IF;
	-- Read once locked: the limit and usage as the assessment before this one left them.
	SELECT pol."limit" INTO v_limit FROM billing_policy(p_tenant, p_resource) AS pol;
	SELECT coalesce(max(u.used), 0) INTO v_used
	FROM usage_counter u WHERE u.organization_id = p_tenant AND u.resource = p_resource;
	SELECT coalesce(max(st.warning_percent), 80), coalesce(max(st.hysteresis_percent), 10)
	INTO v_warning, v_hysteresis
	FROM billing_alert_settings st;

	v_next := billing_alert_next_state(v_state, p_move, v_used, v_limit, v_warning, v_hysteresis);
	IF v_next = v_state THEN
		RETURN NULL;
	END IF;
	UPDATE billing_alert_state s SET state = v_next, updated_at = now()
	WHERE s.organization_id = p_tenant AND s.resource = p_resource;
	v_type := CASE v_next WHEN 'warning' THEN 'limit.warning' WHEN 'reached' THEN 'limit.reached' ELSE 'limit.resolved' END;
	INSERT INTO billing_event (type, tenant_id, data)
	VALUES (
		v_type,
		p_tenant,
		jsonb_build_object(
			'tenant_id', p_tenant,
			'resource', p_resource,
			'used', v_used,
			'limit', v_limit,
			'state', v_next
		)
	);
	RETURN v_type;
END;
$$;
--> statement-breakpoint
-- Every change of a counter — whoever makes it — is assessed in its own transaction, at its commit
-- (deferred): by then the counter holds what the transaction leaves, so a unit taken and given
-- back within it (a grant abandoned at its deadline, inside billing_reserve) moves nothing, and
-- each assessment reads the usage that commits. The counter row stays locked until then, so the
-- order of locks (counter, then state) is kept. A counter made at 0 has nothing to assess.
CREATE FUNCTION billing_usage_counter_alert() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
	PERFORM billing_assess_alert(
		NEW.organization_id,
		NEW.resource,
		CASE WHEN TG_OP = 'INSERT' OR NEW.used > OLD.used THEN 'rose' ELSE 'fell' END
	);
	RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE CONSTRAINT TRIGGER usage_counter_alert_insert
AFTER INSERT ON usage_counter
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW
WHEN (NEW.used > 0)
EXECUTE FUNCTION billing_usage_counter_alert();
--> statement-breakpoint
CREATE CONSTRAINT TRIGGER usage_counter_alert_update
AFTER UPDATE OF used ON usage_counter
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW
WHEN (NEW.used IS DISTINCT FROM OLD.used)
EXECUTE FUNCTION billing_usage_counter_alert();
--> statement-breakpoint
-- A change of limits, known by its `limits.changed` (before and after: a tenant's effective
-- limits, keyed by resource): each resource whose limit differs is assessed — a lower or newly
-- finite limit as `rose`, a higher or unlimited one as `fell`, a new tenant's (`before` null) as
-- `rose`. One statement may hold a whole catalog edit's events: assessed in (tenant, resource)
-- order, the lease sweep's order, so the two lock state rows alike. Events written here are
-- `limit.*`, which this trigger skips when it fires for them.
CREATE FUNCTION billing_limits_changed_alerts() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
	v_changed record;
BEGIN
	FOR v_changed IN
		SELECT e.tenant_id, r.resource,
			CASE
				WHEN jsonb_typeof(e.data -> 'before') IS DISTINCT FROM 'object' THEN 'rose'
				WHEN jsonb_typeof(e.data -> 'after' -> r.resource) IS DISTINCT FROM 'number' THEN 'fell'
				WHEN jsonb_typeof(e.data -> 'before' -> r.resource) IS DISTINCT FROM 'number' THEN 'rose'
				WHEN (e.data -> 'after' ->> r.resource)::numeric < (e.data -> 'before' ->> r.resource)::numeric THEN 'rose'
				ELSE 'fell'
			END AS move
		FROM inserted e
		CROSS JOIN (VALUES ('deployments'), ('self_hosted_workers')) AS r (resource)
		WHERE e.type = 'limits.changed'
			AND e.tenant_id IS NOT NULL
			AND jsonb_typeof(e.data -> 'after') = 'object'
			AND (
				jsonb_typeof(e.data -> 'before') IS DISTINCT FROM 'object'
				OR (e.data -> 'before' -> r.resource) IS DISTINCT FROM (e.data -> 'after' -> r.resource)
			)
		ORDER BY e.tenant_id, r.resource
	LOOP
		PERFORM billing_assess_alert(v_changed.tenant_id, v_changed.resource, v_changed.move);
	END LOOP;
	RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER billing_event_limits_changed_alerts
AFTER INSERT ON billing_event
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION billing_limits_changed_alerts();
