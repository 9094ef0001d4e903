import { setTimeout as sleep } from 'node:timers/promises';
import type { DrainableServer } from './http/node-server.js';
import type { Logger } from './telemetry/logger.js';

export interface ShutdownOptions {
  /** The public listener first; any other (metrics) after it. */
  servers: readonly DrainableServer[];
  /** How long to keep serving, with `/readyz` at 503, so load balancers take this replica out first. */
  delayMs: number;
  /** How long in-flight requests may take to finish before their connections are cut. */
  timeoutMs: number;
  /**
   * Called as the servers stop accepting (after the delay): ends what would hold a connection open
   * for ever (the change streams), so that closing waits only for requests.
   */
  onClose?: (() => void) | undefined;
  /** Closes what the servers used (the store, exporters), once no request is left. */
  release(): Promise<void>;
  logger: Logger;
}

export interface Shutdown {
  /** True from the first signal on: `/readyz` answers 503. */
  readonly started: boolean;
  /**
   * Drains and releases; resolves with the exit code: 0 when every accepted request was answered,
   * 1 when some had to be cut or releasing failed. A second call cuts the wait short.
   */
  begin(reason: string): Promise<number>;
}

/**
 * The order matters: say "not ready" while still serving (the delay), stop accepting, let
 * in-flight requests finish (bounded), then close the store — never the store under a request.
 */
export function createShutdown(options: ShutdownOptions): Shutdown {
  const { servers, logger } = options;
  let running: Promise<number> | undefined;
  const abandonWait = new AbortController();

  async function run(reason: string): Promise<number> {
    const startedAt = performance.now();
    logger.info({ reason, delay_ms: options.delayMs, in_flight: inFlight() }, 'shutting down');
    for (const server of servers) server.startDraining();
    if (options.delayMs > 0) {
      await sleep(options.delayMs, undefined, { signal: abandonWait.signal }).catch(() => {});
    }
    options.onClose?.();
    const drained = await Promise.all(servers.map((server) => server.close(options.timeoutMs)));
    const everyRequestAnswered = drained.every(Boolean);
    if (!everyRequestAnswered) {
      logger.warn(
        { timeout_ms: options.timeoutMs },
        'requests still running at the shutdown timeout were cut',
      );
    }
    let released = true;
    try {
      await options.release();
    } catch (error) {
      released = false;
      logger.error({ err: error }, 'closing the store failed');
    }
    logger.info({ duration_ms: Math.round(performance.now() - startedAt) }, 'stopped');
    return everyRequestAnswered && released ? 0 : 1;
  }

  function inFlight(): number {
    return servers.reduce((sum, server) => sum + server.inFlight(), 0);
  }

  return {
    get started() {
      return running !== undefined;
    },
    begin(reason) {
      if (running) {
        logger.warn({ reason, in_flight: inFlight() }, 'shutting down now: not waiting any longer');
        abandonWait.abort();
        for (const { server } of servers) server.closeAllConnections();
        return running;
      }
      running = run(reason);
      return running;
    },
  };
}
