import { z } from 'zod';

/**
 * Error bodies in the shapes FastAPI produces, because the Engine already parses them.
 */
export const HttpErrorBody = z
  .object({ detail: z.string() })
  .meta({ id: 'HTTPError', example: { detail: 'Missing authorization header' } });
export type HttpErrorBody = z.infer<typeof HttpErrorBody>;

/** One entry of a pydantic v2 validation error. */
export const ValidationIssue = z
  .object({
    type: z.string().meta({ example: 'missing' }),
    loc: z.array(z.union([z.string(), z.int()])).meta({ example: ['header', 'tenant-id'] }),
    msg: z.string().meta({ example: 'Field required' }),
    input: z.unknown(),
    ctx: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ description: 'One failing field, as pydantic v2 reports it.' });
export type ValidationIssue = z.infer<typeof ValidationIssue>;

export const ValidationErrorBody = z.object({ detail: z.array(ValidationIssue) }).meta({
  id: 'HTTPValidationError',
  example: {
    detail: [{ type: 'missing', loc: ['header', 'tenant-id'], msg: 'Field required', input: null }],
  },
});
export type ValidationErrorBody = z.infer<typeof ValidationErrorBody>;
