-- The operator console's signed-out sessions. A session is a sealed cookie, kept nowhere on the
-- server; "Sign out" adds its id here so that a copy of the cookie is refused by every replica
-- until it would have expired (8 hours at most), when the row is pruned (at the next sign-out).
CREATE TABLE "console_session_revocation" (
	"session_id" text PRIMARY KEY NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
