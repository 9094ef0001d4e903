import { z } from 'zod';

/** Where a page of a newest-first list ended: its last row's time to the microsecond (UTC), and id. */
export const PagePosition = z.object({ at: z.string(), id: z.string() });
export type PagePosition = z.infer<typeof PagePosition>;

/** A position's time as the store writes it: microseconds, UTC (a JavaScript Date holds only milliseconds). */
const POSITION_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

function positionOf(cursor: string, isId: (id: string) => boolean): PagePosition | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || value.length !== 2) return undefined;
  const [at, id] = value as unknown[];
  if (typeof at !== 'string' || !POSITION_TIME.test(at)) return undefined;
  // Date.parse rolls 02-31 over into March, and PostgreSQL has no year 0: a real time round-trips.
  const ms = Date.parse(at);
  if (!(ms >= 0) || new Date(ms).toISOString().slice(0, 19) !== at.slice(0, 19)) return undefined;
  if (typeof id !== 'string' || !isId(id)) return undefined;
  return { at, id };
}

/**
 * The opaque `cursor` of a newest-first list: a position, base64url-encoded. Decoded when the input
 * is parsed (a cursor that is not one is a 422 on `cursor`); encoded into `next_cursor`. `isId`
 * says which ids the list's rows can have: a cursor naming another is not one of its cursors.
 */
export function pageCursor({ example, isId }: { example: string; isId: (id: string) => boolean }) {
  return z.codec(
    z
      .string()
      .min(1)
      .max(4096)
      .meta({ description: 'Opaque: the `next_cursor` of the previous page.', example }),
    PagePosition,
    {
      decode: (cursor, ctx) => {
        const position = positionOf(cursor, isId);
        if (position) return position;
        ctx.issues.push({ code: 'custom', message: 'Invalid cursor', input: cursor });
        return z.NEVER;
      },
      encode: (position) => Buffer.from(JSON.stringify([position.at, position.id])).toString('base64url'),
    },
  );
}

export const NextCursor = z
  .string()
  .nullable()
  .meta({ description: 'The `cursor` of the next page; null on the last page.' });

/**
 * The opaque `cursor` of a list ordered by one unique key (tenant ids, ascending): the last key of
 * the previous page, base64url-encoded. A cursor that is not one (`isKey` refuses what it names)
 * is a 422 on `cursor`, as with `pageCursor`.
 */
export function keyCursor({ example, isKey }: { example: string; isKey: (key: string) => boolean }) {
  return z.codec(
    z
      .string()
      .min(1)
      .max(4096)
      .meta({ description: 'Opaque: the `next_cursor` of the previous page.', example }),
    z.string(),
    {
      decode: (cursor, ctx) => {
        const key = keyOf(cursor);
        if (key !== undefined && isKey(key)) return key;
        ctx.issues.push({ code: 'custom', message: 'Invalid cursor', input: cursor });
        return z.NEVER;
      },
      encode: (key) => Buffer.from(JSON.stringify([key])).toString('base64url'),
    },
  );
}

function keyOf(cursor: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || value.length !== 1) return undefined;
  const [key] = value as unknown[];
  return typeof key === 'string' ? key : undefined;
}
