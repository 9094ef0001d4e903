import { expect } from 'vitest';

/** Polls until `check` holds or the deadline passes — tests wait for a state, never for a fixed time. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not true within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Polls `read` until it answers `expected`, for at most a second: what "within a second" means. */
export async function withinASecond<T>(read: () => Promise<T>, expected: T) {
  const started = Date.now();
  let seen = await read();
  while (seen !== expected && Date.now() - started < 1_000) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    seen = await read();
  }
  expect(seen).toBe(expected);
  expect(Date.now() - started).toBeLessThan(1_000);
}
