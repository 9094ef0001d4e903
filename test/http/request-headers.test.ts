import { describe, expect, it } from 'vitest';
import { headerText } from '../../src/http/request-headers.js';

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
