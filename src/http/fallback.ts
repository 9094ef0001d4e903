import type { Context } from 'hono';
import { INTERNAL_SERVER_ERROR } from '../api/errors.js';
import { LIMITS_CHANGES_PATH } from './limits-changes-route.js';
import type { ObservedRoutes } from './request-observer.js';
import { allowedMethodsOf, restRoutesOf } from './rest-routes.js';

/**
 * What no route answered: 405 with `Allow` for a known path and another method, 404 otherwise —
 * FastAPI's bodies.
 */
export function mountFallback(routes: ObservedRoutes): void {
  const allowedMethods = allowedMethodsOf([...restRoutesOf(), { method: 'GET', path: LIMITS_CHANGES_PATH }]);
  routes.notFound((c) => {
    const allowed = allowedMethods(c.req.path);
    if (allowed.length > 0)
      return c.json({ detail: 'Method Not Allowed' }, 405, { Allow: allowed.join(', ') });
    return c.json({ detail: 'Not Found' }, 404);
  });
}

/** The answer to an error no handler expected: a 500 that says nothing of its cause, which is reported. */
export function internalServerError(onUnexpectedError: (error: unknown, c: Context) => void) {
  return (error: unknown, c: Context): Response => {
    onUnexpectedError(error, c);
    return c.json({ detail: INTERNAL_SERVER_ERROR }, 500);
  };
}
