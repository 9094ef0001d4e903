import type { Context, Hono } from 'hono';
import { INTERNAL_SERVER_ERROR } from '../api/errors.js';
import { allowedMethodsOf } from './rest-routes.js';

/**
 * What no route answered: 405 with `Allow` for a known path and another method, 404 otherwise —
 * FastAPI's bodies — and the 500 of an unexpected error, whose cause goes to `onUnexpectedError`.
 */
export function mountFallback(app: Hono, onUnexpectedError: (error: unknown, c: Context) => void): void {
  const allowedMethods = allowedMethodsOf();
  app.notFound((c) => {
    const allowed = allowedMethods(c.req.path);
    if (allowed.length > 0)
      return c.json({ detail: 'Method Not Allowed' }, 405, { Allow: allowed.join(', ') });
    return c.json({ detail: 'Not Found' }, 404);
  });
  app.onError((error, c) => {
    onUnexpectedError(error, c);
    return c.json({ detail: INTERNAL_SERVER_ERROR }, 500);
  });
}
