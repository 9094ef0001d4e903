/** What a caller is told when its answer would come after its deadline (a 503), whoever notices first. */
export const REQUEST_TIMED_OUT = 'Request timed out';

/** What `within` resolves with when the time ran out first. */
export const TIMED_OUT = Symbol('timed out');

/**
 * `promise`'s outcome, or `TIMED_OUT` if it has not settled within `ms`. The work goes on either
 * way — the caller decides what to answer meanwhile; the timer never outlives the race. One
 * promise and one timer a call (no `Promise.race`): it runs on every request.
 */
export function within<T>(promise: T | Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  return new Promise<T | typeof TIMED_OUT>((resolve, reject) => {
    const timer = setTimeout(resolve, ms, TIMED_OUT);
    Promise.resolve(promise).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
