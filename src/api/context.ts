import type { TokenClaims } from '../auth/token-verifier.js';
import type { LimitsSource } from '../limits/limits-source.js';

/** Everything a procedure may use, handed in by the composition root (`createBillingApp`). */
export interface BillingServices {
  /** Resolves the `Authorization` header to the caller's claims, or throws an `AuthenticationError`. */
  authenticateWorker(authorization: string | undefined): Promise<TokenClaims>;
  limits: LimitsSource;
}

export interface BillingContext {
  /** The raw `Authorization` header; checked by the auth middleware, before input parsing. */
  authorization: string | undefined;
  services: BillingServices;
}
