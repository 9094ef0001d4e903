import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';

/** JSON request bodies here are small objects; anything larger is refused before it is read. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * Refuses a body over `maxBytes` with 413 and a FastAPI-shaped detail, whether it is announced by
 * `Content-Length` or streamed chunked (counted as it arrives, never buffered past the cap).
 */
export function limitBody(maxBytes: number = MAX_BODY_BYTES, onRefused?: () => void): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) => {
      onRefused?.();
      return c.json({ detail: `Request body larger than ${maxBytes} bytes` }, 413);
    },
  });
}
