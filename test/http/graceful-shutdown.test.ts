import { describe, expect, it } from 'vitest';
import type { BillingStore } from '../../src/domain/store.js';
import { createShutdown, type Shutdown } from '../../src/graceful-shutdown.js';
import { listen } from '../../src/http/node-server.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { eventually } from '../support/eventually.js';
import { useHarness } from '../support/harness.js';

const silent = createLogger({ level: 'silent' });

/** What a client saw: a status, or the code of the error that kept it from getting one. */
async function outcomeOf(request: Promise<Response>): Promise<number | string> {
  try {
    const res = await request;
    await res.arrayBuffer();
    return res.status;
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return cause?.code ?? String(error);
  }
}

describe('draining a server in process', () => {
  const h = useHarness({ store: 'pglite', config: { disableAuth: true } });

  /** The store, answering each tenant read only when the test lets it. */
  function gatedStore() {
    const { store } = h;
    const waiting: (() => void)[] = [];
    const gated: BillingStore = {
      ...store,
      tenants: {
        ...store.tenants,
        findTenant: (id) =>
          new Promise((resolve, reject) => {
            waiting.push(() => store.tenants.findTenant(id).then(resolve, reject));
          }),
      },
    };
    const open = () => {
      for (const go of waiting.splice(0)) go();
    };
    return { store: gated, open };
  }

  async function serve(store: BillingStore, shuttingDown: () => boolean) {
    const { app } = h.withApp({ dependencies: { store }, hooks: { isShuttingDown: shuttingDown } });
    return listen(app.fetch, { port: 0, hostname: '127.0.0.1' });
  }

  it('finishes every request in flight, then closes the store, and refuses new connections', async () => {
    const tenant = await h.tenant('growth');
    const gate = gatedStore();
    const events: string[] = [];
    let drain: Shutdown | undefined;
    const server = await serve(gate.store, () => drain?.started ?? false);
    drain = createShutdown({
      servers: [server],
      delayMs: 0,
      timeoutMs: 5_000,
      logger: silent,
      release: async () => {
        events.push(`store closed, ${server.inFlight()} requests in flight`);
      },
    });
    const inFlight = Array.from({ length: 20 }, (_, i) =>
      fetch(`${server.origin}/billing/limits`, {
        headers: { 'tenant-id': tenant, 'x-request-id': `r${i}` },
      }).then(async (res) => {
        events.push(`answered ${res.status} ${res.headers.get('connection')}`);
        return res.status;
      }),
    );
    await eventually(() => server.inFlight() === 20);

    const exit = drain.begin('SIGTERM');
    expect(drain.started).toBe(true);
    // The listener is closed at once: a new connection is refused while the old ones finish.
    await eventually(() => !server.server.listening);
    expect(await outcomeOf(fetch(`${server.origin}/healthz`))).toBe('ECONNREFUSED');
    gate.open();

    expect(await Promise.all(inFlight)).toEqual(Array(20).fill(200));
    expect(await exit).toBe(0);
    expect(events.filter((event) => event.startsWith('answered'))).toEqual(
      Array(20).fill('answered 200 close'),
    );
    expect(events.filter((event) => event.startsWith('store'))).toEqual([
      'store closed, 0 requests in flight',
    ]);
  });

  it('keeps serving during the delay with /readyz at 503 and Connection: close', async () => {
    const tenant = await h.tenant('growth');
    let stopping = false;
    const server = await serve(h.store, () => stopping);
    const shutdown = createShutdown({
      servers: [server],
      delayMs: 60_000, // cut short below by a second signal
      timeoutMs: 5_000,
      logger: silent,
      release: async () => {},
    });
    stopping = true;
    const exit = shutdown.begin('SIGTERM');
    const ready = await fetch(`${server.origin}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ detail: 'Shutting down' });
    const served = await fetch(`${server.origin}/billing/limits`, { headers: { 'tenant-id': tenant } });
    expect(served.status).toBe(200);
    expect(served.headers.get('connection')).toBe('close');
    expect(server.server.listening).toBe(true);

    // A second signal stops waiting.
    await shutdown.begin('SIGINT');
    expect(await exit).toBe(0);
    expect(server.server.listening).toBe(false);
  });

  it('ends the open change streams as the servers close, so that they hold nothing open: exit 0 at once', async () => {
    const streamsClosing = new AbortController();
    const { app } = h.withApp({ hooks: { streamsClosing: streamsClosing.signal } });
    const server = await listen(app.fetch, { port: 0, hostname: '127.0.0.1' });
    const shutdown = createShutdown({
      servers: [server],
      delayMs: 0,
      timeoutMs: 20_000,
      logger: silent,
      onClose: () => streamsClosing.abort(),
      release: async () => {},
    });
    const res = await fetch(`${server.origin}/billing/limits/changes`);
    expect(res.status).toBe(200);
    const body = res.body?.getReader();
    expect(new TextDecoder().decode((await body?.read())?.value)).toContain('event: ready');

    const started = Date.now();
    expect(await shutdown.begin('SIGTERM')).toBe(0);
    // Not held until the 20 s timeout: the stream ended, its connection closed.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await body?.read())?.done).toBe(true);
  });

  it('ends a subscription whose client went away over a real connection', async () => {
    const { app } = h.withApp({});
    const server = await listen(app.fetch, { port: 0, hostname: '127.0.0.1' });
    const open = async () =>
      Number(/billing_limits_change_streams (\d+)/.exec(await (await app.request('/metrics')).text())?.[1]);
    const client = new AbortController();
    const res = await fetch(`${server.origin}/billing/limits/changes`, { signal: client.signal });
    await res.body?.getReader().read();
    expect(await open()).toBe(1);
    client.abort();
    await eventually(async () => (await open()) === 0);
    await server.close(100);
  });

  it('cuts requests still running at the timeout and says so in its exit code', async () => {
    const tenant = await h.tenant('growth');
    const gate = gatedStore();
    const server = await serve(gate.store, () => true);
    const released: string[] = [];
    const shutdown = createShutdown({
      servers: [server],
      delayMs: 0,
      timeoutMs: 100,
      logger: silent,
      release: async () => {
        released.push('store closed');
      },
    });
    const stuck = outcomeOf(fetch(`${server.origin}/billing/limits`, { headers: { 'tenant-id': tenant } }));
    await eventually(() => server.inFlight() === 1);
    expect(await shutdown.begin('SIGTERM')).toBe(1);
    expect(typeof (await stuck)).toBe('string'); // the connection was cut: no status
    expect(released).toEqual(['store closed']);
    gate.open();
  });

  it('exits 1 when releasing the store fails, after draining', async () => {
    const server = await serve(h.store, () => true);
    const shutdown = createShutdown({
      servers: [server],
      delayMs: 0,
      timeoutMs: 1_000,
      logger: silent,
      release: () => Promise.reject(new Error('close failed')),
    });
    expect(await shutdown.begin('SIGTERM')).toBe(1);
  });
});
