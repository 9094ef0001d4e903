import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';

/** What the console reads of a request besides its form: where it came from, and where to go. */

/**
 * A POST from this origin's pages: browsers say where a form came from (`Origin`, and
 * `Sec-Fetch-Site`); when they say another site, it is refused whatever else it carries.
 */
export function sameOrigin(c: Context): boolean {
  if (c.req.header('sec-fetch-site') === 'cross-site') return false;
  const origin = c.req.header('origin');
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === new URL(c.req.url).host;
  } catch {
    return false;
  }
}

/** A console path to return to after signing in; nothing else (no other site, no `//host`). */
export function consolePathOr(next: string | undefined): string | undefined {
  return next && /^\/console(\/[^/\\][^\\]*)?$/.test(next) && !next.includes('//') ? next : undefined;
}

/** The address a request came from (behind a proxy: the proxy's). */
export function clientAddressOf(c: Context): string {
  return (c.env as Partial<HttpBindings> | undefined)?.incoming?.socket?.remoteAddress ?? 'unknown';
}

/** A path parameter of the route that matched (always there: the route names it). */
export function pathParam(c: Context, name: string): string {
  return c.req.param(name) ?? '';
}
