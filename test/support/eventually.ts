import { expect } from 'vitest';
import type { LimitsChange } from '../../src/domain/limits/changes.js';
import type { BillingStore } from '../../src/domain/store.js';

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

/**
 * Polls `read` until it answers `expected`, then asserts on the last answer, so a failure shows what
 * was read. The deadline only ends the wait — it is no speed promise: on two loaded CI cores a
 * second is not a second. How fast a change reaches another replica ("within a second") is
 * measured by `scripts/bench/propagation.ts`, not asserted here.
 */
export async function eventuallyReads<T>(read: () => Promise<T>, expected: T, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let seen = await read();
  while (!Object.is(seen, expected) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    seen = await read();
  }
  expect(seen, `read within ${timeoutMs} ms`).toBe(expected);
}

/**
 * Runs `write`, then waits until `store`'s subscribers have heard a change naming the tenant
 * `tenantOf(result)`: after that, no late notification of this write can reach them. Returns the
 * write's result and every change heard meanwhile.
 */
export async function heardAfter<T>(
  store: Pick<BillingStore, 'subscribe'>,
  write: () => Promise<T>,
  tenantOf: (result: T) => string,
): Promise<{ result: T; heard: LimitsChange[] }> {
  const heard: LimitsChange[] = [];
  const unsubscribe = store.subscribe((change) => heard.push(change));
  try {
    const result = await write();
    const tenant = tenantOf(result);
    await eventually(
      () => heard.some((change) => 'tenants' in change && change.tenants.includes(tenant)),
      30_000,
    );
    return { result, heard };
  } finally {
    unsubscribe();
  }
}
