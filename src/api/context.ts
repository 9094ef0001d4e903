import type { TokenClaims } from '../auth/token-verifier.js';
import type { Administration } from '../limits/administration.js';
import type { LimitsSource } from '../limits/limits-source.js';
import type { UsageService } from '../usage/usage.js';

/** Everything a procedure may use, handed in by the composition root (`createBillingApp`). */
export interface BillingServices {
  /** Resolves the `Authorization` header to the Engine's claims, or throws an `AuthenticationError`. */
  authenticateWorker(authorization: string | undefined): Promise<TokenClaims>;
  /** The same for admin tokens; absent when the admin API is off (no `BILLING_ADMIN_SECRET` or no store). */
  authenticateAdmin?: ((authorization: string | undefined) => Promise<TokenClaims>) | undefined;
  limits: LimitsSource;
  administration?: Administration | undefined;
  /** Reservations and usage; absent without a store. */
  usage?: UsageService | undefined;
}

export interface BillingContext {
  /** The raw `Authorization` header; checked by the auth middleware, before input parsing. */
  authorization: string | undefined;
  /**
   * When the caller will have been answered 503 `Request timed out` (ms since the epoch), if the
   * request has a deadline: a write that has not started by then must not start at all.
   */
  deadline?: number | undefined;
  services: BillingServices;
}
