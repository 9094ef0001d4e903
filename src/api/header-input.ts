import { z } from 'zod';

/**
 * The header parameters of a REST route whose input fields travel as headers: the same field
 * schemas as the procedure input, keyed by header name, for the OpenAPI document. Validation
 * itself stays with the procedure's `.input()`.
 */
export function headerParameters<Shape extends z.ZodRawShape>(
  input: z.ZodObject<Shape>,
  headers: Readonly<Partial<Record<keyof Shape & string, string>>>,
): z.ZodObject {
  const shape: Record<string, z.core.$ZodType> = {};
  for (const [field, header] of Object.entries(headers)) {
    const schema = input.shape[field];
    if (header && schema) shape[header] = schema;
  }
  return z.object(shape);
}
