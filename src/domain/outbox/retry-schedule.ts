const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * The waits after each failed attempt: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then hourly until
 * about 24 hours have passed since the first attempt; the attempt after the last wait is the last.
 */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = (() => {
  const delays = [5 * SECOND, 30 * SECOND, 2 * MINUTE, 10 * MINUTE, 30 * MINUTE, HOUR];
  let total = delays.reduce((sum, delay) => sum + delay, 0);
  while (total + HOUR <= 24 * HOUR) {
    delays.push(HOUR);
    total += HOUR;
  }
  return delays;
})();

/**
 * How long to wait after failed attempt number `attempt` (1 = the first), with ±20 % jitter so
 * that the deliveries one outage failed together do not all come back at once; undefined when
 * that was the last attempt.
 */
export function retryDelayMs(
  delays: readonly number[],
  attempt: number,
  random: () => number = Math.random,
): number | undefined {
  const delay = delays[attempt - 1];
  return delay === undefined ? undefined : Math.round(delay * (0.8 + 0.4 * random()));
}
