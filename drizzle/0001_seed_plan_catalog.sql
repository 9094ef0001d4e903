-- The original endpoint's plan catalog. From here on the table is the source of truth:
-- change a plan with `PUT /admin/plans/{planId}` or `npm run admin -- plan set`, no deploy needed.
INSERT INTO "plan" ("id", "deployments", "self_hosted_workers", "orb_external_plan_id") VALUES
  ('free', 1, 5, 'free'),
  ('growth', 5, NULL, 'growth'),
  ('enterprise', NULL, NULL, 'enterprise')
ON CONFLICT ("id") DO NOTHING;
