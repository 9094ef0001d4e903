import { bodyLimit } from 'hono/body-limit';
import type { RouteHandler } from './request-observer.js';

/** JSON request bodies here are small objects; anything larger is refused before it is read. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * `handler` behind a body limit: a body over `maxBytes` is refused with 413 and a FastAPI-shaped
 * detail, whether it is announced by `Content-Length` or streamed chunked (counted as it arrives,
 * never buffered past the cap). One handler, so the route stays one function in Hono.
 */
export function withBodyLimit(
  handler: RouteHandler,
  { maxBytes = MAX_BODY_BYTES, onRefused }: { maxBytes?: number; onRefused?: () => void } = {},
): RouteHandler {
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: (c) => {
      onRefused?.();
      return c.json({ detail: `Request body larger than ${maxBytes} bytes` }, 413);
    },
  });
  return async (c) => {
    let answer: Response | undefined;
    const refused = await limit(c, async () => {
      answer = await handler(c);
    });
    return refused ?? (answer as Response);
  };
}
