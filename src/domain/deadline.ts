/** What `within` resolves with when the time ran out first. */
export const TIMED_OUT = Symbol('timed out');

/**
 * `promise`'s outcome, or `TIMED_OUT` if it has not settled within `ms`. The work goes on either
 * way — the caller decides what to answer meanwhile; the timer never outlives the race.
 */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(resolve, ms, TIMED_OUT);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
