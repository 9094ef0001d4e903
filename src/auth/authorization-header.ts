import { AuthenticationError } from './errors.js';

export const MISSING_AUTHORIZATION = 'Missing authorization header';
export const MALFORMED_AUTHORIZATION = "Invalid authorization header format. Expected 'Bearer <token>'";

const WHITESPACE = /\s+/;

/**
 * The bearer token of an `Authorization` header, read as the original does with Python's
 * `header.split()`: any run of whitespace separates, the scheme is case-insensitive, and
 * anything but exactly two parts is malformed.
 */
export function bearerTokenFrom(authorization: string | undefined): string {
  if (!authorization) throw new AuthenticationError(MISSING_AUTHORIZATION);
  const parts = authorization.trim().split(WHITESPACE);
  const [scheme, token] = parts;
  if (parts.length !== 2 || scheme?.toLowerCase() !== 'bearer' || !token) {
    throw new AuthenticationError(MALFORMED_AUTHORIZATION);
  }
  return token;
}
