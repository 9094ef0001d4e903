import { AuthenticationError } from './errors.js';

export const MISSING_AUTHORIZATION = 'Missing authorization header';
export const MALFORMED_AUTHORIZATION = "Invalid authorization header format. Expected 'Bearer <token>'";

/**
 * What Python's `str.split()` splits on, within the Latin-1 range a header value can carry:
 * ASCII whitespace, the information separators U+001C–U+001F, NEL (U+0085) and NBSP (U+00A0).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: Python counts U+001C–U+001F as whitespace.
const WHITESPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0]+/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the same characters, at either end.
const EDGE_WHITESPACE = /^[\t\n\v\f\r\x1c-\x1f \x85\xa0]+|[\t\n\v\f\r\x1c-\x1f \x85\xa0]+$/g;

/**
 * The bearer token of an `Authorization` header, read as the original does with Python's
 * `header.split()`: any run of whitespace separates, the scheme is case-insensitive, and
 * anything but exactly two parts is malformed.
 */
export function bearerTokenFrom(authorization: string | undefined): string {
  if (!authorization) throw new AuthenticationError(MISSING_AUTHORIZATION);
  const parts = authorization.replace(EDGE_WHITESPACE, '').split(WHITESPACE);
  const [scheme, token] = parts;
  if (parts.length !== 2 || scheme?.toLowerCase() !== 'bearer' || !token) {
    throw new AuthenticationError(MALFORMED_AUTHORIZATION);
  }
  return token;
}
