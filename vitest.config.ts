import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['test/support/global-setup.ts'],
    // FC_SEED / FC_PATH replay a fast-check failure (see the file).
    setupFiles: ['test/support/fast-check-replay.ts'],
    // Room for a spawned server's start-up (test/support/spawn-server.ts waits up to 30 s for it) while
    // other test files run on the same two cores; a test that hangs still fails.
    testTimeout: 45_000,
    hookTimeout: 60_000,
  },
});
