import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';

/**
 * A header's value as FastAPI (Starlette's `Headers.get`) reads it: the first, when the header is
 * repeated. Node and the Fetch API join repeats into `a, b`, which would make a tenant id of
 * two; on Node the raw header list still has them apart — and reading it never materializes the
 * Fetch `Headers` object, which costs every request that touches `c.req.header()`. Without Node
 * (`app.request` in tests, other runtimes) the joined value is what there is.
 */
export function firstHeaderValue(c: Context, name: string): string | undefined {
  const raw = (c.env as Partial<HttpBindings> | undefined)?.incoming?.rawHeaders;
  if (!raw) return c.req.header(name);
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i];
    // Most clients send these names in lower case: compare as sent first, lower-case only if not.
    if (key === name || (key?.length === name.length && key.toLowerCase() === name)) return raw[i + 1];
  }
  return undefined;
}

/** Whether the request's URL has a query string, read without building the full URL on Node. */
export function hasQueryString(c: Context): boolean {
  const url = (c.env as Partial<HttpBindings> | undefined)?.incoming?.url ?? c.req.url;
  return url.includes('?');
}
