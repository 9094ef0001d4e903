import type { z } from 'zod';
import type { ValidationIssue } from '../contract/errors.js';

export type IssueLocation = readonly (string | number)[];

/** Where a field of the procedure input arrived on the wire, e.g. `['header', 'tenant-id']`. */
export type LocateField = (path: readonly PropertyKey[]) => IssueLocation;

/** A step of a location as pydantic writes it: a list position stays a number (`["body", "checks", 0]`). */
export const locationPart = (part: PropertyKey): string | number =>
  typeof part === 'number' ? part : String(part);

/** pydantic's way of listing choices: `'a', 'b' or 'c'`. */
function pythonChoices(values: readonly unknown[]): string {
  const quoted = values.map((value) => `'${String(value)}'`);
  if (quoted.length < 2) return quoted.join('');
  return `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function inputAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

type Described = Pick<ValidationIssue, 'type' | 'msg' | 'ctx'>;

function describe(issue: z.core.$ZodIssue, input: unknown): Described {
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) return { type: 'missing', msg: 'Field required' };
      if (issue.expected === 'array') return { type: 'list_type', msg: 'Input should be a valid list' };
      if (issue.expected === 'string') return { type: 'string_type', msg: 'Input should be a valid string' };
      if (issue.expected === 'int' || issue.expected === 'number') {
        return { type: 'int_type', msg: 'Input should be a valid integer' };
      }
      return { type: `${issue.expected}_type`, msg: `Input should be a valid ${issue.expected}` };
    case 'invalid_value': {
      const expected = pythonChoices(issue.values);
      return { type: 'enum', msg: `Input should be ${expected}`, ctx: { expected } };
    }
    case 'too_small':
      if (issue.origin === 'array') {
        const min = Number(issue.minimum);
        const actual = Array.isArray(input) ? input.length : 0;
        return {
          type: 'too_short',
          msg: `List should have at least ${plural(min, 'item')} after validation, not ${actual}`,
          ctx: { field_type: 'List', min_length: min, actual_length: actual },
        };
      }
      if (issue.origin === 'string') {
        const min = Number(issue.minimum);
        return {
          type: 'string_too_short',
          msg: `String should have at least ${plural(min, 'character')}`,
          ctx: { min_length: min },
        };
      }
      return {
        type: 'greater_than_equal',
        msg: `Input should be greater than or equal to ${issue.minimum}`,
        ctx: { ge: Number(issue.minimum) },
      };
    case 'too_big':
      if (issue.origin === 'array') {
        const max = Number(issue.maximum);
        const actual = Array.isArray(input) ? input.length : 0;
        return {
          type: 'too_long',
          msg: `List should have at most ${plural(max, 'item')} after validation, not ${actual}`,
          ctx: { field_type: 'List', max_length: max, actual_length: actual },
        };
      }
      if (issue.origin === 'string') {
        const max = Number(issue.maximum);
        return {
          type: 'string_too_long',
          msg: `String should have at most ${plural(max, 'character')}`,
          ctx: { max_length: max },
        };
      }
      return {
        type: 'less_than_equal',
        msg: `Input should be less than or equal to ${issue.maximum}`,
        ctx: { le: Number(issue.maximum) },
      };
    case 'invalid_format':
      if (issue.format === 'regex' && 'pattern' in issue && typeof issue.pattern === 'string') {
        // zod reports the pattern as a JavaScript literal (`/…/`); pydantic shows it as declared.
        const pattern = issue.pattern.replace(/^\/(.*)\/[a-z]*$/s, '$1');
        return {
          type: 'string_pattern_mismatch',
          msg: `String should match pattern '${pattern}'`,
          ctx: { pattern },
        };
      }
      return { type: 'value_error', msg: `Value error, ${issue.message}` };
    case 'unrecognized_keys':
      return { type: 'extra_forbidden', msg: 'Extra inputs are not permitted' };
    default:
      return { type: 'value_error', msg: `Value error, ${issue.message}` };
  }
}

/**
 * zod issues rewritten as the entries of a FastAPI 422 body (pydantic v2 wording), so callers
 * that parse the original service's validation errors keep working.
 */
export function toValidationIssues(
  issues: readonly z.core.$ZodIssue[],
  rawInput: unknown,
  locate: LocateField,
): ValidationIssue[] {
  // pydantic stops at a field's first failing constraint: one entry per field, where zod lists all.
  const seen = new Set<string>();
  return issues.flatMap((issue) => {
    const paths =
      issue.code === 'unrecognized_keys' ? issue.keys.map((key) => [...issue.path, key]) : [issue.path];
    return paths.flatMap((path) => {
      const key = JSON.stringify(path.map(String));
      if (seen.has(key)) return [];
      seen.add(key);
      const input = inputAt(rawInput, path);
      const { type, msg, ctx } = describe(issue, input);
      const entry: ValidationIssue = { type, loc: [...locate(path)], msg, input: input ?? null };
      if (ctx) entry.ctx = ctx;
      return [entry];
    });
  });
}
