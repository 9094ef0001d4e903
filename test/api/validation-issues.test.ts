import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { locationPart, toValidationIssues } from '../../src/api/validation-issues.js';

/** zod's issues for `input` against `schema`, rewritten as FastAPI's 422 entries (located in the body). */
function entriesOf(schema: z.ZodType, input: unknown) {
  const parsed = schema.safeParse(input);
  if (parsed.success) throw new Error('expected a failed parse');
  return toValidationIssues(parsed.error.issues, input, (path) => ['body', ...path.map(locationPart)]);
}

/** One issue as zod would report it, for the shapes a schema of ours does not produce. */
const issue = (fields: Record<string, unknown>) => fields as unknown as z.core.$ZodIssue;

describe('zod issues as pydantic v2 words them', () => {
  it('says a missing field is required, with null input', () => {
    expect(entriesOf(z.object({ name: z.string() }), {})).toStrictEqual([
      { type: 'missing', loc: ['body', 'name'], msg: 'Field required', input: null },
    ]);
  });

  it.each([
    ['string', z.string(), 5, 'string_type', 'Input should be a valid string'],
    ['list', z.array(z.string()), 'x', 'list_type', 'Input should be a valid list'],
    ['integer', z.int(), 'x', 'int_type', 'Input should be a valid integer'],
    ['number', z.number(), 'x', 'int_type', 'Input should be a valid integer'],
    ['boolean', z.boolean(), 'x', 'boolean_type', 'Input should be a valid boolean'],
    ['object', z.object({}), 'x', 'object_type', 'Input should be a valid object'],
  ])('words a wrong type: %s', (_, schema, input, type, msg) => {
    expect(entriesOf(z.object({ field: schema }), { field: input })).toStrictEqual([
      { type, loc: ['body', 'field'], msg, input },
    ]);
  });

  it('lists choices as pydantic does: one, two, or more', () => {
    const enumOf = (values: [string, ...string[]]) => z.object({ field: z.enum(values) });
    expect(entriesOf(enumOf(['a']), { field: 'x' })).toStrictEqual([
      {
        type: 'enum',
        loc: ['body', 'field'],
        msg: "Input should be 'a'",
        input: 'x',
        ctx: { expected: "'a'" },
      },
    ]);
    expect(entriesOf(enumOf(['a', 'b']), { field: 'x' })[0]?.msg).toBe("Input should be 'a' or 'b'");
    expect(entriesOf(enumOf(['a', 'b', 'c']), { field: 'x' })[0]?.msg).toBe(
      "Input should be 'a', 'b' or 'c'",
    );
  });

  it('words list, string and number bounds, singular and plural', () => {
    const schema = z.object({
      few: z.array(z.int()).min(2),
      one: z.array(z.int()).min(1),
      many: z.array(z.int()).max(1),
      short: z.string().min(3),
      char: z.string().min(1),
      long: z.string().max(2),
      low: z.int().min(0),
      high: z.int().max(10),
    });
    const input = { few: [1], one: [], many: [1, 2], short: 'ab', char: '', long: 'abc', low: -1, high: 11 };
    expect(entriesOf(schema, input)).toStrictEqual([
      {
        type: 'too_short',
        loc: ['body', 'few'],
        msg: 'List should have at least 2 items after validation, not 1',
        input: [1],
        ctx: { field_type: 'List', min_length: 2, actual_length: 1 },
      },
      {
        type: 'too_short',
        loc: ['body', 'one'],
        msg: 'List should have at least 1 item after validation, not 0',
        input: [],
        ctx: { field_type: 'List', min_length: 1, actual_length: 0 },
      },
      {
        type: 'too_long',
        loc: ['body', 'many'],
        msg: 'List should have at most 1 item after validation, not 2',
        input: [1, 2],
        ctx: { field_type: 'List', max_length: 1, actual_length: 2 },
      },
      {
        type: 'string_too_short',
        loc: ['body', 'short'],
        msg: 'String should have at least 3 characters',
        input: 'ab',
        ctx: { min_length: 3 },
      },
      {
        type: 'string_too_short',
        loc: ['body', 'char'],
        msg: 'String should have at least 1 character',
        input: '',
        ctx: { min_length: 1 },
      },
      {
        type: 'string_too_long',
        loc: ['body', 'long'],
        msg: 'String should have at most 2 characters',
        input: 'abc',
        ctx: { max_length: 2 },
      },
      {
        type: 'greater_than_equal',
        loc: ['body', 'low'],
        msg: 'Input should be greater than or equal to 0',
        input: -1,
        ctx: { ge: 0 },
      },
      {
        type: 'less_than_equal',
        loc: ['body', 'high'],
        msg: 'Input should be less than or equal to 10',
        input: 11,
        ctx: { le: 10 },
      },
    ]);
  });

  it('counts a list bound’s actual length as 0 when the input is no list', () => {
    const at = (code: 'too_small' | 'too_big') =>
      toValidationIssues(
        [issue({ code, origin: 'array', minimum: 1, maximum: 1, path: ['field'], message: 'm' })],
        { field: 'not a list' },
        (path) => path.map(locationPart),
      )[0]?.ctx;
    expect(at('too_small')).toStrictEqual({ field_type: 'List', min_length: 1, actual_length: 0 });
    expect(at('too_big')).toStrictEqual({ field_type: 'List', max_length: 1, actual_length: 0 });
  });

  it('shows a pattern as declared, without the slashes and flags of its JavaScript literal', () => {
    expect(entriesOf(z.object({ id: z.string().regex(/^[a-z/]+$/i) }), { id: '1' })).toStrictEqual([
      {
        type: 'string_pattern_mismatch',
        loc: ['body', 'id'],
        msg: "String should match pattern '^[a-z/]+$'",
        input: '1',
        ctx: { pattern: '^[a-z/]+$' },
      },
    ]);
    // A pattern that is no literal is shown whole.
    const [entry] = toValidationIssues(
      [issue({ code: 'invalid_format', format: 'regex', pattern: 'a/b/', path: ['id'], message: 'm' })],
      { id: 'x' },
      (path) => path.map(locationPart),
    );
    expect(entry?.ctx).toStrictEqual({ pattern: 'a/b/' });
  });

  it('calls any other format failure, and any other issue, a value error with zod’s message', () => {
    expect(entriesOf(z.object({ mail: z.email('not an email') }), { mail: 'x' })).toStrictEqual([
      { type: 'value_error', loc: ['body', 'mail'], msg: 'Value error, not an email', input: 'x' },
    ]);
    // A regex issue without its pattern (zod's `startsWith` reports none).
    expect(
      entriesOf(z.object({ id: z.string().startsWith('org-', 'must start with org-') }), { id: 'x' }),
    ).toStrictEqual([
      { type: 'value_error', loc: ['body', 'id'], msg: 'Value error, must start with org-', input: 'x' },
    ]);
    expect(
      entriesOf(z.object({ n: z.int().refine((n) => n % 2 === 0, 'must be even') }), { n: 3 }),
    ).toStrictEqual([
      { type: 'value_error', loc: ['body', 'n'], msg: 'Value error, must be even', input: 3 },
    ]);
  });

  it('names each unknown key on its own, extra inputs not being permitted', () => {
    expect(entriesOf(z.strictObject({}), { a: 1, b: null })).toStrictEqual([
      { type: 'extra_forbidden', loc: ['body', 'a'], msg: 'Extra inputs are not permitted', input: 1 },
      { type: 'extra_forbidden', loc: ['body', 'b'], msg: 'Extra inputs are not permitted', input: null },
    ]);
  });

  it('reports a field once, at its first failing check, and locates list items by number', () => {
    const schema = z.object({
      tags: z.array(
        z
          .string()
          .min(2)
          .regex(/^[a-z]/),
      ),
    });
    expect(entriesOf(schema, { tags: ['ok', '1'] })).toStrictEqual([
      {
        type: 'string_too_short',
        loc: ['body', 'tags', 1],
        msg: 'String should have at least 2 characters',
        input: '1',
        ctx: { min_length: 2 },
      },
    ]);
  });

  it('reads the input under a field that is not an object as missing', () => {
    const schema = z.object({ outer: z.object({ inner: z.string() }).nullable() });
    const [entry] = toValidationIssues(
      [issue({ code: 'invalid_type', expected: 'string', path: ['outer', 'inner'], message: 'm' })],
      { outer: null },
      (path) => path.map(locationPart),
    );
    expect(entry).toStrictEqual({
      type: 'missing',
      loc: ['outer', 'inner'],
      msg: 'Field required',
      input: null,
    });
    expect(schema.safeParse({ outer: null }).success).toBe(true);
  });
});

describe('locationPart', () => {
  it('keeps a list position a number and writes any other key as a string', () => {
    expect(locationPart(0)).toBe(0);
    expect(locationPart('tenant-id')).toBe('tenant-id');
    expect(locationPart(Symbol.for('key'))).toBe('Symbol(key)');
  });
});
