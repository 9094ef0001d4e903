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

// biome-ignore lint/suspicious/noControlCharactersInRegex: any byte past ASCII, whatever it is.
const BEYOND_ASCII = /[^\x00-\x7f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: a character no single byte stands for.
const BEYOND_LATIN1 = /[^\x00-\xff]/;
/** Python's strict `bytes.decode('utf-8')`: refuses invalid sequences, keeps a leading BOM. */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A header value's bytes as text: UTF-8 when they are valid UTF-8, Latin-1 otherwise. Node's
 * parser and the Fetch API hold header values as Latin-1 — one character per byte — which is also
 * how Starlette decoded every header for the original; an id sent as UTF-8 (`org-ü`) would be
 * read as its bytes' Latin-1 characters (`org-Ã¼`) and never match the tenant the admin API
 * created. Bytes that are not UTF-8 keep the original's reading. A value already holding
 * characters past U+00FF (a runtime that decoded it) is text already.
 */
export function headerText(value: string): string {
  if (!BEYOND_ASCII.test(value) || BEYOND_LATIN1.test(value)) return value;
  try {
    return STRICT_UTF8.decode(Buffer.from(value, 'latin1'));
  } catch {
    return value;
  }
}

/** Whether the request's URL has a query string, read without building the full URL on Node. */
export function hasQueryString(c: Context): boolean {
  const url = (c.env as Partial<HttpBindings> | undefined)?.incoming?.url ?? c.req.url;
  return url.includes('?');
}
