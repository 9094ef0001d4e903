import { LRUCache } from 'lru-cache';

/** Sign-in attempts allowed per client address in each window. */
export const SIGN_IN_ATTEMPTS = 10;
export const SIGN_IN_WINDOW_MS = 60_000;

export interface SignInLimiter {
  /** How long `address` must wait (ms) before it may try again; 0 when it may now. */
  waitFor(address: string, now: number): number;
  /** Counts a failed attempt from `address`. */
  failed(address: string, now: number): void;
}

/**
 * Failed attempts are counted (an operator who signs in often is never locked out); once an
 * address has failed `attempts` times in a window, every attempt is refused until the window
 * ends, a right token included. A fixed window per client address, kept for at most 10,000 addresses (the least recently seen
 * are forgotten first, so a flood of addresses cannot grow the process).
 */
export function createSignInLimiter({
  attempts = SIGN_IN_ATTEMPTS,
  windowMs = SIGN_IN_WINDOW_MS,
  maxAddresses = 10_000,
} = {}): SignInLimiter {
  const windows = new LRUCache<string, { count: number; endsAt: number }>({ max: maxAddresses });
  return {
    waitFor(address, now) {
      const window = windows.get(address);
      return window && window.endsAt > now && window.count >= attempts ? window.endsAt - now : 0;
    },
    failed(address, now) {
      let window = windows.get(address);
      if (!window || window.endsAt <= now) {
        window = { count: 0, endsAt: now + windowMs };
        windows.set(address, window);
      }
      window.count += 1;
    },
  };
}
