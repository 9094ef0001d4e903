import { eq, lt } from 'drizzle-orm';
import type { ConsoleSessionStore } from '../domain/operators/console-sessions.js';
import type { Database } from './database.js';
import { consoleSessionRevocation as revocation } from './schema.js';

/** `console_session_revocation`: the console sessions signed out before they expired. */
export function createConsoleSessionStore(db: Database): ConsoleSessionStore {
  return {
    async revoke(sessionId, expiresAt, now) {
      // Sign-outs are rare and a session lasts hours: pruning here keeps the table at the last
      // hours' sign-outs without a periodic task.
      await db.delete(revocation).where(lt(revocation.expiresAt, now));
      await db.insert(revocation).values({ sessionId, expiresAt }).onConflictDoNothing();
    },
    async isRevoked(sessionId) {
      const rows = await db
        .select({ sessionId: revocation.sessionId })
        .from(revocation)
        .where(eq(revocation.sessionId, sessionId))
        .limit(1);
      return rows.length > 0;
    },
  };
}
