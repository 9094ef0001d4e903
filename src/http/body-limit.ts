import type { HttpBindings } from '@hono/node-server';
import { bodyLimit } from 'hono/body-limit';
import { lingerAfterAnswer } from './lingering-close.js';
import type { RouteHandler } from './request-observer.js';

/** JSON request bodies here are small objects; anything larger is refused before it is read. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * `handler` behind a body limit: a body over `maxBytes` is refused with 413 and a FastAPI-shaped
 * detail, whether it is announced by `Content-Length` or streamed chunked (counted as it arrives,
 * never buffered past the cap). One handler, so the route stays one function in Hono.
 *
 * The client may still be uploading the rest: the answer says `Connection: close`, and over Node
 * the connection then closes lingering (`lingerAfterAnswer`), so the client reads the 413 instead
 * of a reset on its next write.
 */
export function withBodyLimit(
  handler: RouteHandler,
  { maxBytes = MAX_BODY_BYTES, onRefused }: { maxBytes?: number; onRefused?: () => void } = {},
): RouteHandler {
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: (c) => {
      onRefused?.();
      const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
      if (incoming) lingerAfterAnswer(incoming);
      return c.json({ detail: `Request body larger than ${maxBytes} bytes` }, 413, { Connection: 'close' });
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
