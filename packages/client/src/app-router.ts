/**
 * The service's router type, for the client's types. In this repository it is the server's own;
 * the published package carries a generated copy instead (`scripts/build.ts` writes
 * `dist/app-router.d.ts` with the server's request context and route metadata erased), so a
 * caller installs none of the server.
 */
export type { AppRouter } from '../../../src/api/router.js';
