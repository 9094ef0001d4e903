export interface LeaseSweeperOptions {
  /** Releases every lease that has ended; resolves with how many this call released. */
  sweep(): Promise<number>;
  /** Between the end of one sweep and the start of the next (ms). */
  intervalMs: number;
  /** Stops the sweeper: a sweep under way finishes (its failure, if any, unreported), none starts after. */
  signal: AbortSignal;
  /** A sweep that failed; the next one runs on time all the same. */
  onError(error: unknown): void;
}

/**
 * Runs `sweep` every `intervalMs`, one at a time (the next is scheduled when the last one ends,
 * so a slow store never piles sweeps up). Its timer does not keep the process alive. Every
 * replica runs one: the store makes concurrent sweeps safe, and any replica left is enough.
 */
export function startLeaseSweeper({ sweep, intervalMs, signal, onError }: LeaseSweeperOptions): void {
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (signal.aborted) return;
    timer = setTimeout(run, intervalMs);
    timer.unref();
  };
  const run = () => {
    sweep()
      .catch((error: unknown) => {
        if (!signal.aborted) onError(error);
      })
      .finally(schedule);
  };
  signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  schedule();
}
