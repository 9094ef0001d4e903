/**
 * Console sessions ended before their time: signed out. A session lives in its sealed cookie; what
 * the server keeps is only this list, so a copy of a signed-out cookie is refused by every replica.
 * An entry is kept until the session would have expired anyway, then pruned.
 */
export interface ConsoleSessionStore {
  /** Ends `sessionId` (idempotent) and prunes the entries of sessions expired by `now`. */
  revoke(sessionId: string, expiresAt: Date, now: Date): Promise<void>;
  isRevoked(sessionId: string): Promise<boolean>;
}
