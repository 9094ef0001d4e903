import { type Context, Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { firstHeaderValue, hasQueryString, headerText } from '../../src/http/request-headers.js';

/** A header value holding `bytes`, one character per byte, as Node's parser and fetch's `Headers` hold it. */
const fromBytes = (...bytes: number[]) => Buffer.from(bytes).toString('latin1');

describe('headerText: a header value’s bytes as text', () => {
  it.each([
    ['ASCII, as it is', fromBytes(0x6f, 0x72, 0x67), 'org'],
    ['valid UTF-8 (C3 BC), as UTF-8', fromBytes(0x6f, 0xc3, 0xbc), 'oü'],
    ['a 4-byte sequence, as one character', fromBytes(0xf0, 0x9f, 0x9a, 0x80), '🚀'],
    ['a leading BOM, kept (Python’s strict codec keeps it)', fromBytes(0xef, 0xbb, 0xbf, 0x61), '\ufeffa'],
    ['a lone Latin-1 byte (FC), as Latin-1', fromBytes(0x6f, 0xfc), 'o\u00fc'],
    ['a lead byte with nothing after it, as Latin-1', fromBytes(0x6f, 0xc3), 'o\u00c3'],
    ['an overlong encoding (C0 AF), as Latin-1', fromBytes(0xc0, 0xaf), '\u00c0\u00af'],
    ['an encoded surrogate (ED A0 80), as Latin-1', fromBytes(0xed, 0xa0, 0x80), '\u00ed\u00a0\u0080'],
    [
      'valid UTF-8 then one invalid byte: all of it as Latin-1',
      fromBytes(0xc3, 0xbc, 0xff),
      '\u00c3\u00bc\u00ff',
    ],
  ])('reads %s', (_, value, expected) => {
    expect(headerText(value)).toBe(expected);
  });

  it('leaves a value already holding characters past U+00FF (a runtime that decoded it) as it is', () => {
    expect(headerText('org-ü-日本')).toBe('org-ü-日本');
  });
});

describe('headerText on values that only look like Latin-1 bytes', () => {
  it('leaves characters past U+00FF whose low bytes would read as UTF-8 (U+01C3 U+01BC, not "ü")', () => {
    expect(headerText('\u01c3\u01bc')).toBe('\u01c3\u01bc');
  });
});

/** A route answering what `read` makes of its request, called with Node's bindings (`env`) or none. */
function echo(read: (c: Context) => unknown) {
  const app = new Hono();
  app.get('/echo', (c) => c.json({ value: read(c) ?? null }));
  return async (init: { url?: string; headers?: Record<string, string>; env?: unknown }) => {
    const res = await app.request(init.url ?? '/echo', { headers: init.headers ?? {} }, init.env);
    return ((await res.json()) as { value: unknown }).value;
  };
}

describe('firstHeaderValue', () => {
  const tenantId = echo((c) => firstHeaderValue(c, 'tenant-id'));

  it('reads the first of repeated headers from Node’s raw list, whatever the case of its name', async () => {
    const rawHeaders = ['Host', 'x', 'Tenant-ID', 'org-a', 'tenant-id', 'org-b'];
    expect(await tenantId({ env: { incoming: { rawHeaders } } })).toBe('org-a');
  });

  it('skips the headers before it, one with a name as long as its own too', async () => {
    const rawHeaders = [
      'accept',
      'application/json',
      'x-api-key',
      'k',
      'X-Tenant',
      'org-x',
      'tenant-id',
      'org-a',
    ];
    expect(await tenantId({ env: { incoming: { rawHeaders } } })).toBe('org-a');
  });

  it('answers undefined when Node’s raw list has no such header', async () => {
    expect(
      await tenantId({ env: { incoming: { rawHeaders: ['Host', 'x'] } }, headers: { 'tenant-id': 'no' } }),
    ).toBe(null);
  });

  it('reads the joined value without Node’s bindings, or with bindings but no request', async () => {
    expect(await tenantId({ headers: { 'tenant-id': 'org-a' } })).toBe('org-a');
    expect(await tenantId({ env: {}, headers: { 'tenant-id': 'org-a' } })).toBe('org-a');
  });
});

describe('hasQueryString', () => {
  const hasQuery = echo(hasQueryString);

  it('reads Node’s request line when there is one', async () => {
    expect(await hasQuery({ env: { incoming: { url: '/echo?tenant=a' } } })).toBe(true);
    expect(await hasQuery({ env: { incoming: { url: '/echo' } } })).toBe(false);
  });

  it('reads the URL without Node’s bindings, or with bindings but no request', async () => {
    expect(await hasQuery({ url: '/echo?tenant=a' })).toBe(true);
    expect(await hasQuery({ url: '/echo' })).toBe(false);
    expect(await hasQuery({ url: '/echo?', env: {} })).toBe(true);
    expect(await hasQuery({ url: '/echo', env: {} })).toBe(false);
  });
});
