import { describe, expect, it } from 'vitest';
import { jsonBodyOf } from '../../src/http/response-bytes.js';

/** An object whose serialization counts itself: how many times `JSON.stringify` read it. */
function counting(freeze: boolean) {
  const reads = { count: 0 };
  const output = {
    get tenant() {
      reads.count++;
      return 'org-a';
    },
  };
  return { output: freeze ? Object.freeze(output) : output, reads };
}

describe('jsonBodyOf', () => {
  it.each([
    [null, 'null'],
    [5, '5'],
    ['org', '"org"'],
    [true, 'true'],
    [[1, 2], '[1,2]'],
    [{ a: 1 }, '{"a":1}'],
  ])('writes %j as JSON', (output, body) => {
    expect(jsonBodyOf(output)).toBe(body);
    // Twice: a value that cannot be remembered (a primitive, null) is written again, not refused.
    expect(jsonBodyOf(output)).toBe(body);
  });

  it('serializes a frozen output once and writes the same bytes after', () => {
    const { output, reads } = counting(true);
    expect(jsonBodyOf(output)).toBe('{"tenant":"org-a"}');
    expect(jsonBodyOf(output)).toBe('{"tenant":"org-a"}');
    expect(reads.count).toBe(1);
  });

  it('serializes an output that is not frozen on every call: it may have changed', () => {
    const { output, reads } = counting(false);
    jsonBodyOf(output);
    jsonBodyOf(output);
    expect(reads.count).toBe(2);
  });
});
