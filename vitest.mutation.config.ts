import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The tests Stryker runs against each mutant (`npm run mutation`): the in-process ones. A test
 * that spawns a server, a CLI, a browser or a pooler runs the code unmutated — Stryker switches
 * mutants inside the test process — so it would only slow every mutant down.
 */
const SPAWNING = [
  'test/bench.smoke.test.ts',
  'test/soak.smoke.test.ts',
  'test/server.test.ts',
  'test/settings.test.ts',
  'test/deploy.test.ts',
  'test/missing-postgres.test.ts',
  'test/package-entry.test.ts',
  'test/cli/admin-beside-server.test.ts',
  'test/client/package.test.ts',
  'test/db/pgbouncer.test.ts',
  'test/http/docs-page.test.ts',
  'test/http/openapi-generated-client.test.ts',
  'test/http/openapi-lint.test.ts',
  'test/http/sigterm-under-load.test.ts',
  'test/telemetry/log-delivery.test.ts',
  'test/telemetry/tracing.test.ts',
];

/** MUTATION_TESTS (comma-separated globs) narrows the run to one folder's tests. */
const only = process.env['MUTATION_TESTS'];

// Spread, not `mergeConfig`: that would add these lists to the base's instead of replacing them.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: only ? only.split(',') : (base.test?.include ?? []),
    exclude: SPAWNING,
  },
});
