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
    // Two test files at a time. Vitest's default is one fewer than the cores — one, here — but
    // most files spend their time waiting on a spawned server, a socket or a database, so one
    // file at a time leaves a core idle. Measured on these two cores (Node 20, PostgreSQL too):
    // the whole suite in 4 min 49 s, against about 14 min one file at a time.
    maxWorkers: 2,
    hookTimeout: 60_000,
  },
});
