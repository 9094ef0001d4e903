import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_DELAYS_MS, retryDelayMs } from '../../../src/domain/outbox/retry-schedule.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const sum = (delays: readonly number[]) => delays.reduce((total, delay) => total + delay, 0);

describe('the default retry schedule', () => {
  it('waits 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then hourly', () => {
    expect(DEFAULT_RETRY_DELAYS_MS.slice(0, 6)).toEqual([
      5 * SECOND,
      30 * SECOND,
      2 * MINUTE,
      10 * MINUTE,
      30 * MINUTE,
      HOUR,
    ]);
    expect(DEFAULT_RETRY_DELAYS_MS.slice(6).every((delay) => delay === HOUR)).toBe(true);
    // 1 h 42 min 35 s for the first six, then 22 hourly waits.
    expect(DEFAULT_RETRY_DELAYS_MS).toHaveLength(28);
  });

  it('spans as much of 24 hours as whole hourly waits allow, never more', () => {
    const total = sum(DEFAULT_RETRY_DELAYS_MS);
    expect(total).toBe(23 * HOUR + 42 * MINUTE + 35 * SECOND);
    expect(total).toBeLessThanOrEqual(24 * HOUR);
    expect(total + HOUR).toBeGreaterThan(24 * HOUR);
  });
});

describe('retryDelayMs', () => {
  const delays = [5 * SECOND, 30 * SECOND, 2 * MINUTE];

  it.each([
    [1, 5 * SECOND],
    [2, 30 * SECOND],
    [3, 2 * MINUTE],
  ])('after attempt %i: the delay with ±20 %% jitter', (attempt, delay) => {
    expect(retryDelayMs(delays, attempt, () => 0)).toBe(0.8 * delay);
    expect(retryDelayMs(delays, attempt, () => 0.5)).toBe(delay);
    expect(retryDelayMs(delays, attempt, () => 1)).toBe(1.2 * delay);
    expect(retryDelayMs(delays, attempt, () => 0.25)).toBe(0.9 * delay);
  });

  it('rounds to whole milliseconds', () => {
    expect(retryDelayMs([1_001], 1, () => 0)).toBe(801); // 800.8
    expect(retryDelayMs([1_001], 1, () => 0.5)).toBe(1_001);
    expect(Number.isInteger(retryDelayMs([7], 1, () => 0.123))).toBe(true);
  });

  it('stays within ±20 % with the real random source', () => {
    for (let i = 0; i < 1_000; i++) {
      const delay = retryDelayMs(DEFAULT_RETRY_DELAYS_MS, 2);
      expect(delay).toBeGreaterThanOrEqual(24 * SECOND);
      expect(delay).toBeLessThanOrEqual(36 * SECOND);
    }
  });

  it('is undefined after the last attempt and any later one', () => {
    expect(retryDelayMs(delays, delays.length + 1, () => 0.5)).toBeUndefined();
    expect(retryDelayMs(delays, delays.length + 2, () => 0.5)).toBeUndefined();
    expect(retryDelayMs(delays, 1_000, () => 0.5)).toBeUndefined();
    expect(retryDelayMs(DEFAULT_RETRY_DELAYS_MS, DEFAULT_RETRY_DELAYS_MS.length, () => 0.5)).toBe(HOUR);
    expect(retryDelayMs(DEFAULT_RETRY_DELAYS_MS, DEFAULT_RETRY_DELAYS_MS.length + 1)).toBeUndefined();
    expect(retryDelayMs([], 1)).toBeUndefined();
  });

  it('draws the jitter once per delay, and not at all after the last attempt', () => {
    let draws = 0;
    const random = () => {
      draws++;
      return 0.5;
    };
    retryDelayMs(delays, 1, random);
    expect(draws).toBe(1);
    retryDelayMs(delays, delays.length + 1, random);
    expect(draws).toBe(1);
  });
});
