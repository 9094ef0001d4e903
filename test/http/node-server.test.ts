/**
 * `listen` with small `fetch` functions of the test's own: what it counts as in flight, when it
 * says `Connection: close`, what `close` reports, and the server options it passes to Node.
 * (test/http/graceful-shutdown.test.ts drains the whole app through it.)
 */
import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type DrainableServer, listen } from '../../src/http/node-server.js';
import { eventually } from '../support/eventually.js';

type Fetch = Parameters<typeof listen>[0];

const servers: DrainableServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close(0)));
});

async function serve(fetch: Fetch, options: Partial<Parameters<typeof listen>[1]> = {}) {
  const server = await listen(fetch, { port: 0, hostname: '127.0.0.1', ...options });
  servers.push(server);
  return server;
}

/** One request on a connection of its own: status, `Connection` header and body. */
function get(server: DrainableServer, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
    const req = httpRequest(`${server.origin}/`, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A `fetch` that answers only when the test lets it, and how many calls are waiting. */
function gated() {
  const waiting: (() => void)[] = [];
  const fetch: Fetch = () =>
    new Promise<Response>((resolve) => {
      waiting.push(() => resolve(new Response('late')));
    });
  const open = () => {
    for (const go of waiting.splice(0)) go();
  };
  return { fetch, waiting, open };
}

describe('listen', () => {
  it('names its origin as a client writes it, IPv4 and IPv6', async () => {
    const v4 = await serve(() => new Response('ok'));
    expect(v4.origin).toBe(`http://127.0.0.1:${v4.address.port}`);
    const v6 = await serve(() => new Response('ok'), { hostname: '::1' });
    expect(v6.origin).toBe(`http://[::1]:${v6.address.port}`);
    expect((await get(v6)).body).toBe('ok');
  });

  it('counts a request in flight from its arrival until its answer is made', async () => {
    const gate = gated();
    const server = await serve(gate.fetch);
    expect(server.inFlight()).toBe(0);
    const answers = [get(server), get(server)];
    await eventually(() => gate.waiting.length === 2);
    expect(server.inFlight()).toBe(2);
    gate.open();
    expect((await Promise.all(answers)).map((a) => a.body)).toEqual(['late', 'late']);
    expect(server.inFlight()).toBe(0);
  });

  it('counts out an answer made at once, a fetch that throws and one that rejects', async () => {
    let calls = 0;
    const server = await serve(() => {
      calls++;
      if (calls === 2) throw new Error('thrown');
      if (calls === 3) return Promise.reject(new Error('rejected'));
      return new Response('at once');
    });
    expect((await get(server)).body).toBe('at once');
    expect((await get(server)).status).toBe(500); // @hono/node-server's answer to a failed fetch
    expect((await get(server)).status).toBe(500);
    expect(server.inFlight()).toBe(0);
  });

  it.each([
    ['made at once', () => new Response('ok')],
    ['made later', async () => new Response('ok')],
  ])(
    'keeps connections alive until it drains, then answers with Connection: close (answers %s)',
    async (_, fetch) => {
      const server = await serve(fetch);
      expect((await get(server, { connection: 'keep-alive' })).connection).toBe('keep-alive');
      server.startDraining();
      expect((await get(server, { connection: 'keep-alive' })).connection).toBe('close');
    },
  );

  it('says Connection: close to a request that arrived before the draining began and is answered after', async () => {
    const gate = gated();
    const server = await serve(gate.fetch);
    const answer = get(server, { connection: 'keep-alive' });
    await eventually(() => gate.waiting.length === 1);
    server.startDraining();
    gate.open();
    expect((await answer).connection).toBe('close');
  });

  it('closes at once with no request in flight and reports nothing cut', async () => {
    const server = await serve(() => new Response('ok'));
    await get(server);
    expect(await server.close(5_000)).toBe(true);
  });

  it('waits for a request in flight, and reports it cut when the timeout ends it first', async () => {
    const gate = gated();
    const server = await serve(gate.fetch);
    const answer = get(server).catch((error: NodeJS.ErrnoException) => error.code);
    await eventually(() => gate.waiting.length === 1);
    expect(await server.close(100)).toBe(false);
    expect(await answer).toBe('ECONNRESET');
  });

  it('reports nothing cut when its requests finish within the timeout', async () => {
    const gate = gated();
    const server = await serve(gate.fetch);
    const answer = get(server);
    await eventually(() => gate.waiting.length === 1);
    const closed = server.close(5_000);
    setTimeout(gate.open, 50);
    expect(await closed).toBe(true);
    expect((await answer).body).toBe('late');
  });

  it('refuses headers past maxHeaderBytes with 431', async () => {
    const server = await serve(() => new Response('ok'), { maxHeaderBytes: 1024 });
    expect((await get(server, { 'x-small': 'a'.repeat(100) })).status).toBe(200);
    expect((await get(server, { 'x-big': 'a'.repeat(2_000) })).status).toBe(431);
  });

  it('rejects when the port is taken', async () => {
    const server = await serve(() => new Response('ok'));
    await expect(
      listen(() => new Response('ok'), { port: server.address.port, hostname: '127.0.0.1' }),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});
