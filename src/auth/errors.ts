/**
 * A request that failed authentication. `detail` is the exact sentence the caller sees in the
 * 401 body; it never contains the token or the secret.
 */
export class AuthenticationError extends Error {
  override readonly name = 'AuthenticationError';

  constructor(readonly detail: string) {
    super(detail);
  }
}

/** The token itself is bad; `reason` is worded as PyJWT words it, since the Engine's logs and tests know those words. */
export class InvalidTokenError extends AuthenticationError {
  constructor(readonly reason: string) {
    super(`Invalid token. Error: ${reason}`);
  }
}
