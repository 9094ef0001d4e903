/**
 * Vitest setup file (vitest.config.ts `setupFiles`): replays a fast-check failure.
 *
 * A failing property prints its seed and the path to the shrunk counterexample, e.g.
 * `{ seed: -1819918769, path: "25:3:1", endOnFailure: true }`. Run the same test with them:
 *
 *   FC_SEED=-1819918769 FC_PATH=25:3:1 npx vitest run test/http/hostile-headers.property.test.ts -t '<test name>'
 *
 * `FC_SEED` alone runs every property of the run with that seed (the same values in the same
 * order); `FC_PATH` then goes straight to the counterexample instead of generating and shrinking
 * again. Unset (or empty), every run draws a new seed, as fast-check does by default. A test's own
 * `seed`/`path` in its `fc.assert` options wins over these.
 */
const setting = (name: string) => {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
};

const seed = setting('FC_SEED');
const path = setting('FC_PATH');
if (path !== undefined && seed === undefined) {
  throw new Error(`FC_PATH=${path} replays a path of one seed's run: set FC_SEED to that seed as well`);
}
if (seed !== undefined) {
  // fast-check's seeds are 32-bit integers, printed signed.
  if (!/^-?\d+$/.test(seed) || Number(seed) !== (Number(seed) | 0)) {
    throw new Error(`FC_SEED must be the integer a failing property printed (a 32-bit one), not ${seed}`);
  }
  if (path !== undefined && !/^\d+(:\d+)*$/.test(path)) {
    throw new Error(`FC_PATH must be the path a failing property printed (such as 25:3:1), not ${path}`);
  }
  // Loaded only to replay: the module the test files import, so they run with this configuration.
  const { default: fc } = await import('fast-check');
  fc.configureGlobal({
    ...fc.readConfigureGlobal(),
    seed: Number(seed),
    ...(path === undefined ? {} : { path, endOnFailure: true }),
  });
}
