import { describe, expect, it } from 'vitest';
import { createShutdown } from '../src/graceful-shutdown.js';
import type { DrainableServer } from '../src/http/node-server.js';
import type { Logger } from '../src/telemetry/logger.js';

/**
 * The shutdown's order and exit code, in this process with servers that record what is done to
 * them; `test/http/graceful-shutdown.test.ts` shows a spawned server doing it on SIGTERM.
 */
function recording() {
  const events: string[] = [];
  const logs: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const log =
    (level: string) =>
    (fields: Record<string, unknown>, message: string): void => {
      logs.push({ level, fields, message });
      events.push(`log ${message}`);
    };
  const logger = { info: log('info'), warn: log('warn'), error: log('error') } as unknown as Logger;
  const server = (name: string, { inFlight = 0, answeredAll = true, closes = Promise.resolve() } = {}) =>
    ({
      server: { closeAllConnections: () => events.push(`${name} cut`) },
      startDraining: () => events.push(`${name} draining`),
      close: async (timeoutMs: number) => {
        events.push(`${name} close ${timeoutMs}`);
        await closes;
        events.push(`${name} closed`);
        return answeredAll;
      },
      inFlight: () => inFlight,
    }) as unknown as DrainableServer;
  return { events, logs, logger, server };
}

describe('createShutdown', () => {
  it('says not ready, drains every server, waits the delay, closes them, then releases: exit 0', async () => {
    const { events, logs, logger, server } = recording();
    const shutdown = createShutdown({
      servers: [server('public', { inFlight: 2 }), server('metrics', { inFlight: 1 })],
      delayMs: 30,
      timeoutMs: 5_000,
      onClose: () => events.push('streams closing'),
      release: async () => {
        events.push('released');
      },
      logger,
    });
    expect(shutdown.started).toBe(false);
    const exit = shutdown.begin('SIGTERM');
    expect(shutdown.started).toBe(true);
    // Draining starts at once; closing waits for the delay.
    expect(events).toEqual(['log shutting down', 'public draining', 'metrics draining']);
    expect(await exit).toBe(0);
    // The change streams end as the servers close (after the delay): closing then waits for requests only.
    expect(events.slice(3)).toEqual([
      'streams closing',
      'public close 5000',
      'metrics close 5000',
      'public closed',
      'metrics closed',
      'released',
      'log stopped',
    ]);
    expect(logs[0]).toEqual({
      level: 'info',
      fields: { reason: 'SIGTERM', delay_ms: 30, in_flight: 3 },
      message: 'shutting down',
    });
    expect(logs.at(-1)?.fields['duration_ms']).toBeGreaterThanOrEqual(25);
    expect(logs.at(-1)?.fields['duration_ms']).toBeLessThan(10_000);
    expect(logs.map((entry) => entry.level)).toEqual(['info', 'info']);
  });

  it('exits 1 and says so when a server had to cut requests at the timeout', async () => {
    const { logs, logger, server } = recording();
    const shutdown = createShutdown({
      servers: [server('public', { answeredAll: false }), server('metrics')],
      delayMs: 0,
      timeoutMs: 300,
      release: async () => {},
      logger,
    });
    expect(await shutdown.begin('SIGINT')).toBe(1);
    expect(logs.find((entry) => entry.level === 'warn')).toEqual({
      level: 'warn',
      fields: { timeout_ms: 300 },
      message: 'requests still running at the shutdown timeout were cut',
    });
  });

  it('exits 1 and logs the failure when releasing the store fails, after closing the servers', async () => {
    const { events, logs, logger, server } = recording();
    const failure = new Error('pool ended twice');
    const shutdown = createShutdown({
      servers: [server('public')],
      delayMs: 0,
      timeoutMs: 300,
      release: async () => {
        events.push('release');
        throw failure;
      },
      logger,
    });
    expect(await shutdown.begin('SIGTERM')).toBe(1);
    expect(events.indexOf('public closed')).toBeLessThan(events.indexOf('release'));
    expect(logs.find((entry) => entry.level === 'error')).toEqual({
      level: 'error',
      fields: { err: failure },
      message: 'closing the store failed',
    });
    expect(events.at(-1)).toBe('log stopped');
  });

  it('on a second signal stops waiting: cuts every connection and ends the delay, answering the same exit', async () => {
    const { events, logs, logger, server } = recording();
    const shutdown = createShutdown({
      servers: [server('public', { inFlight: 4 }), server('metrics')],
      delayMs: 60_000,
      timeoutMs: 5_000,
      release: async () => {},
      logger,
    });
    const first = shutdown.begin('SIGTERM');
    const second = shutdown.begin('SIGINT');
    expect(second).toBe(first);
    expect(logs[1]).toEqual({
      level: 'warn',
      fields: { reason: 'SIGINT', in_flight: 4 },
      message: 'shutting down now: not waiting any longer',
    });
    expect(events).toContain('public cut');
    expect(events).toContain('metrics cut');
    // The minute's delay is over at once.
    expect(await first).toBe(0);
    expect(events).toContain('public closed');
  });
});
