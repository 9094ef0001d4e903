export interface PeriodicTaskOptions {
  /** The work: the lease sweep, the outbox's pruning. */
  run(): Promise<unknown>;
  /** Between the end of one run and the start of the next (ms). */
  intervalMs: number;
  /** Stops the task: a run under way finishes (its failure, if any, unreported), none starts after. */
  signal: AbortSignal;
  /** A run that failed; the next one runs on time all the same. */
  onError(error: unknown): void;
  /** The first run now rather than after `intervalMs` (for work that may have waited long already). */
  runAtStart?: boolean | undefined;
}

/**
 * Runs `run` every `intervalMs`, one at a time (the next is scheduled when the last one ends, so a
 * slow store never piles runs up). Its timer does not keep the process alive. Every replica runs
 * its own: the store makes concurrent runs safe, and any replica left is enough.
 */
export function startPeriodicTask({
  run,
  intervalMs,
  signal,
  onError,
  runAtStart = false,
}: PeriodicTaskOptions): void {
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (signal.aborted) return;
    timer = setTimeout(once, intervalMs);
    timer.unref();
  };
  const once = () => {
    run()
      .catch((error: unknown) => {
        if (!signal.aborted) onError(error);
      })
      .finally(schedule);
  };
  signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  if (runAtStart && !signal.aborted) once();
  else schedule();
}
