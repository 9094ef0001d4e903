/**
 * Mutation testing (`npm run mutation`): how many planted bugs the tests catch. A measurement, like
 * the bench — not part of `npm test`. Incremental: a rerun tests only mutants in changed code or
 * covered by changed tests. One folder at a time: `npm run mutation -- --mutate 'src/auth/**'`.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: true },
  coverageAnalysis: 'perTest',
  mutate: [
    'src/**/*.ts',
    // The process entries: what they wire is observed through spawned servers and CLIs
    // (test/settings.test.ts), which run unmutated code.
    '!src/server.ts',
    '!src/cli/admin.ts',
  ],
  ignoreStatic: true,
  incremental: true,
  incrementalFile: 'reports/mutation/incremental.json',
  reporters: ['clear-text', 'progress', 'json', 'html'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  timeoutMS: 10_000,
  dryRunTimeoutMinutes: 30,
  thresholds: { high: 80, low: 70, break: null },
};
