import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { prefixUpperBound } from '../../src/db/rows.js';

/** UTF-8 byte order: PostgreSQL's "C" collation, which the prefix range is compared in. */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** What `startsWith` asks the database: `prefix <= id < upper` (no upper: none sorts after). */
const inRange = (id: string, prefix: string) => {
  const upper = prefixUpperBound(prefix);
  return byteOrder(id, prefix) >= 0 && (upper === undefined || byteOrder(id, upper) < 0);
};

const text = (maxLength: number) =>
  fc.string({
    // Near the edges too: the last code point, the surrogates' neighbours, the BMP's end.
    unit: fc.oneof(
      fc.constantFrom('a', 'b', '\u{10FFFF}', '\u{D7FF}', '\u{E000}', '\u{FFFF}', '\u{10000}'),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    ),
    maxLength,
  });

describe('a prefix as a byte-order range', () => {
  it('holds exactly the ids that start with the prefix (property)', () => {
    fc.assert(
      fc.property(
        text(4).filter((prefix) => prefix.length > 0),
        text(4),
        fc.boolean(),
        (prefix, rest, extend) => {
          const id = extend ? prefix + rest : rest;
          expect(inRange(id, prefix)).toBe(id.startsWith(prefix));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('increments the last code point, past the surrogates, dropping trailing U+10FFFF', () => {
    expect(prefixUpperBound('org-')).toBe('org.');
    expect(prefixUpperBound('a\u{D7FF}')).toBe('a\u{E000}');
    expect(prefixUpperBound('a\u{FFFF}')).toBe('a\u{10000}');
    expect(prefixUpperBound('a\u{10FFFF}\u{10FFFF}')).toBe('b');
    expect(prefixUpperBound('\u{10FFFF}')).toBeUndefined();
  });
});
