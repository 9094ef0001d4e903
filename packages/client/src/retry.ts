import { isUnavailable } from './failures.js';

/** How `reserve()` and `renew()` retry a call the service did not answer. */
export interface RetryOptions {
  /** Tries in all, the first included (default 4; 1 = never retry). */
  attempts?: number;
  /** The longest first wait, doubled at each retry (default 100 ms). */
  initialDelayMs?: number;
  /** No wait is longer than this (default 2,000 ms). */
  maxDelayMs?: number;
}

export const DEFAULT_RETRY: Required<RetryOptions> = { attempts: 4, initialDelayMs: 100, maxDelayMs: 2_000 };

/**
 * Calls `attempt` until it succeeds, fails with an answer (a 4xx), the tries run out or `signal`
 * is aborted; the last failure is thrown. Waits are "full jitter" (a random time up to an
 * exponentially growing bound), so many callers retrying after one outage do not arrive together.
 */
export async function withRetries<T>(
  attempt: () => Promise<T>,
  { attempts, initialDelayMs, maxDelayMs }: Required<RetryOptions>,
  signal: AbortSignal | undefined,
): Promise<T> {
  for (let tried = 1; ; tried++) {
    try {
      return await attempt();
    } catch (error) {
      if (tried >= attempts || !isUnavailable(error) || signal?.aborted) throw error;
      const bound = Math.min(maxDelayMs, initialDelayMs * 2 ** (tried - 1));
      await sleep(Math.random() * bound, signal).catch(() => {
        throw error;
      });
    }
  }
}

/** Resolves after `ms`, or rejects as soon as `signal` is aborted. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
