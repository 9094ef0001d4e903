import type { IncomingMessage } from 'node:http';
import {
  type AddressInfo,
  connect,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  closeLingering,
  DEFAULT_LINGER,
  isLingering,
  lingerAfterAnswer,
  lingerOn,
} from '../../src/http/lingering-close.js';
import { type DrainableServer, type ListenOptions, listen } from '../../src/http/node-server.js';
import { eventually } from '../support/eventually.js';
import { useHarness } from '../support/harness.js';

/**
 * Clients still sending when they are refused, as Python's `httpx` and `http.client` are: they
 * send the whole request before reading, so a reset while they send costs them the answer.
 */

const KiB = 1024;
/** One read by the server: libuv reads up to 64 KiB at a time. */
const ONE_READ = 64 * KiB;
const MAX_HEADER_BYTES = 16 * KiB;

interface Exchange {
  /** Everything the server sent, as Latin-1. */
  received: string;
  /** The error the client's socket ran into (a reset), if any. */
  error: string | undefined;
  /** Bytes the client wrote (and its kernel took) after the first byte of the answer had arrived. */
  sentAfterAnswer: number;
  /** True when the client ended its side before the connection closed. */
  clientEnded: boolean;
}

interface Sending {
  /** Bytes per write. */
  chunkBytes?: number;
  /** Pause between a write's flush and the next write. */
  intervalMs?: number;
  /** After `request`, write `chunkBytes` of filler for ever (until the server closes). */
  forever?: boolean;
  /** Stop writing and end once the answer has arrived and this many more bytes were written. */
  stopAfterAnswer?: number;
}

/**
 * Writes `request` in pieces, pausing between them, reading all the while; ends its side once
 * everything is written (or never, `forever`). Resolves when the connection has closed.
 */
function sendWhileReading(port: number, request: string | Buffer, sending: Sending = {}): Promise<Exchange> {
  const { chunkBytes = 16 * KiB, intervalMs = 2, forever = false, stopAfterAnswer } = sending;
  const bytes = typeof request === 'string' ? Buffer.from(request, 'latin1') : request;
  const filler = Buffer.alloc(chunkBytes, 'f');
  const client = halfOpenClient(port);
  const { socket, exchange } = client;
  let offset = 0;
  const next = () => {
    if (socket.destroyed || socket.writableEnded) return;
    const answered = exchange.received.length > 0;
    const done =
      (offset >= bytes.length && !forever) ||
      (stopAfterAnswer !== undefined && answered && exchange.sentAfterAnswer >= stopAfterAnswer);
    if (done) {
      client.end();
      return;
    }
    const piece = offset < bytes.length ? bytes.subarray(offset, offset + chunkBytes) : filler;
    offset += piece.length;
    socket.write(piece, (error) => {
      if (error) return;
      if (answered) exchange.sentAfterAnswer += piece.length;
      setTimeout(next, intervalMs);
    });
  };
  socket.once('connect', next);
  return client.closed;
}

/**
 * A connection whose writing the test drives, read all the while; `end` ends the client's side
 * and waits for the close. `allowHalfOpen`: the server's FIN does not stop the client's writing,
 * as with a real client sending its request.
 */
function halfOpenClient(port: number) {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const exchange: Exchange = { received: '', error: undefined, sentAfterAnswer: 0, clientEnded: false };
  socket.on('data', (chunk) => {
    exchange.received += chunk.toString('latin1');
  });
  socket.on('error', (error: NodeJS.ErrnoException) => {
    exchange.error ??= error.code ?? String(error);
  });
  const closed = new Promise<Exchange>((resolve) => socket.on('close', () => resolve(exchange)));
  return {
    socket,
    exchange,
    closed,
    end() {
      exchange.clientEnded = true;
      socket.end();
      return closed;
    },
  };
}

/** The status line, headers and body of the one answer in `received`. */
function answerIn(received: string) {
  const end = received.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = received.slice(0, end).split('\r\n');
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return { statusLine, headers, body: received.slice(end + 4) };
}

/** The refusals, spelled out as a client reads them: status line, `detail`. */
type Refusal = readonly [statusLine: string, detail: string];
const HEADERS_TOO_LARGE: Refusal = [
  'HTTP/1.1 431 Request Header Fields Too Large',
  'Request header fields too large',
];
const BAD_REQUEST: Refusal = ['HTTP/1.1 400 Bad Request', 'Invalid HTTP request'];
const REQUEST_TIMEOUT: Refusal = ['HTTP/1.1 408 Request Timeout', 'Request not received in time'];
const BODY_TOO_LARGE: Refusal = ['HTTP/1.1 413 Payload Too Large', 'Request body larger than 65536 bytes'];

/** Asserts `exchange` read exactly the answer `refusal`, with `Connection: close`, and no reset. */
function expectRefusal(exchange: Exchange, ...[statusLine, detail]: Refusal) {
  expect(exchange.error).toBeUndefined();
  const answer = answerIn(exchange.received);
  expect(answer.statusLine).toBe(statusLine);
  expect(answer.headers.get('connection')).toBe('close');
  expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
  expect(JSON.parse(answer.body)).toEqual({ detail });
  expect(Number(answer.headers.get('content-length'))).toBe(Buffer.byteLength(answer.body));
}

const headerOf = (bytes: number) =>
  `GET /billing/limits HTTP/1.1\r\nHost: x\r\ntenant-id: org-1\r\nX-Padding: ${'p'.repeat(bytes)}\r\n\r\n`;

const TRIES = 50;

/** A server over the harness's app that counts the requests the app was given. */
function serving(h: ReturnType<typeof useHarness>, options: Partial<ListenOptions> = {}) {
  let server: DrainableServer;
  let requests = 0;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    server = await listen(
      (request, env) => {
        requests++;
        return h.app.fetch(request, env);
      },
      { port: 0, hostname: '127.0.0.1', maxHeaderBytes: MAX_HEADER_BYTES, ...options },
    );
    server.server.on('connection', (socket: Socket) => sockets.push(socket));
  });
  afterAll(() => server?.close(5_000));
  return {
    get port() {
      return server.address.port;
    },
    get server() {
      return server;
    },
    requests: () => requests,
    /** The server's side of the latest connection. */
    lastSocket: () => sockets.at(-1),
  };
}

/**
 * How long to wait for a lingering connection to be cut before calling it never cut: far past every
 * bound below (a 2 s linger; a slow sender reaching the 1 MiB byte bound ~10 s in), yet short of
 * the 30 s deadline one test must see cleared. It only ends the wait: which bound cut a connection
 * is asserted on what it read, not on how long it took — two loaded cores stretch every second.
 */
const NEVER_CUT_MS = 20_000;

/** Resolves with `promise`, or fails when it takes longer than `ms` (a bound, not a speed test). */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('a refused client still sending reads its answer', () => {
  const h = useHarness({ config: { disableAuth: true } });
  const s = serving(h, { requestTimeoutMs: 300 });

  it.each([70_000, 200_000])(
    'a %i-byte header written 16 kB every 2 ms: 431 in 50 tries out of 50',
    async (bytes) => {
      let stillSendingWhenAnswered = 0;
      for (let i = 0; i < TRIES; i++) {
        const exchange = await sendWhileReading(s.port, headerOf(bytes));
        expectRefusal(exchange, ...HEADERS_TOO_LARGE);
        if (exchange.sentAfterAnswer > 0) stillSendingWhenAnswered++;
      }
      expect(stillSendingWhenAnswered).toBeGreaterThan(0); // the case at issue did happen
      expect(s.requests()).toBe(0);
    },
  );

  it('a 200 kB bearer token all in one write, then read (http.client, httpx): 431 in 50 tries', async () => {
    const request = `GET /billing/limits HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'t'.repeat(200_000)}\r\n\r\n`;
    for (let i = 0; i < TRIES; i++) {
      const exchange = await sendWhileReading(s.port, request, { chunkBytes: request.length });
      expectRefusal(exchange, ...HEADERS_TOO_LARGE);
    }
  });

  it('fetch (undici) with a 200 kB header value: 431 in 50 tries', async () => {
    for (let i = 0; i < TRIES; i++) {
      const res = await fetch(`http://127.0.0.1:${s.port}/billing/limits`, {
        headers: { 'tenant-id': 'org-1', 'x-padding': 'p'.repeat(200_000) },
      });
      expect(res.status).toBe(431);
      expect(res.headers.get('connection')).toBe('close');
      expect(await res.json()).toEqual({ detail: HEADERS_TOO_LARGE[1] });
    }
  });

  it('a malformed request line, followed by 200 kB more: 400', async () => {
    const exchange = await sendWhileReading(s.port, `NOT-A-METHOD / HTTP/1.1\r\n${'j'.repeat(200_000)}`, {
      intervalMs: 10,
    });
    expectRefusal(exchange, ...BAD_REQUEST);
    expect(exchange.sentAfterAnswer).toBeGreaterThan(0);
  });

  it('headers trickled in and never finished: 408 at the request timeout, read while still trickling', async () => {
    const exchange = await sendWhileReading(s.port, 'GET /billing/limits HTTP/1.1\r\nHost: x\r\n', {
      chunkBytes: 12,
      intervalMs: 20,
      forever: true, // "X-Slow: y" lines, for ever…
      stopAfterAnswer: 120, // …until ten more went out after the answer
    });
    expectRefusal(exchange, ...REQUEST_TIMEOUT);
    expect(exchange.sentAfterAnswer).toBeGreaterThanOrEqual(120);
    expect(exchange.clientEnded).toBe(true);
  });

  it('a body announced at 512 KiB and uploaded 16 kB at a time: 413', async () => {
    const body = 'b'.repeat(512 * KiB);
    const exchange = await sendWhileReading(
      s.port,
      `POST /trpc/billing.limits HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      { intervalMs: 2 },
    );
    expectRefusal(exchange, ...BODY_TOO_LARGE);
    expect(exchange.sentAfterAnswer).toBeGreaterThan(0);
  });

  it('a chunked body growing past the cap, uploaded 16 kB at a time: 413', async () => {
    const piece = `4000\r\n${'b'.repeat(0x4000)}\r\n`;
    const exchange = await sendWhileReading(
      s.port,
      `POST /trpc/billing.limits HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${piece.repeat(32)}0\r\n\r\n`,
      { chunkBytes: piece.length, intervalMs: 2 },
    );
    expectRefusal(exchange, ...BODY_TOO_LARGE);
    expect(exchange.sentAfterAnswer).toBeGreaterThan(0);
  });

  it('fetch (undici) streaming a 5 MB body: 413', async () => {
    const chunk = new Uint8Array(64 * KiB).fill(98);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 5_000_000) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const res = await fetch(`http://127.0.0.1:${s.port}/trpc/billing.limits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(res.headers.get('connection')).toBe('close');
    expect(await res.json()).toEqual({ detail: BODY_TOO_LARGE[1] });
  });
});

describe('a request the app already has, refused by Node (its body stopped mid-way)', () => {
  const h = useHarness({ config: { disableAuth: true } });
  let server: DrainableServer;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    // The app answers 503 "Request timed out" at 500 ms, while the refused connection still lingers.
    const { app } = h.withApp({ config: { requestTimeoutMs: 500 } });
    server = await listen(app.fetch, {
      port: 0,
      hostname: '127.0.0.1',
      requestTimeoutMs: 300,
      lingerMs: 1_000,
    });
    server.server.on('connection', (socket: Socket) => sockets.push(socket));
  });
  afterAll(() => server?.close(5_000));

  it('gets the 408 in place of the app’s answer, which never follows it', async () => {
    const client = halfOpenClient(server.address.port);
    client.socket.write(
      'POST /trpc/billing.limits HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":',
    );
    await eventually(() => client.exchange.received.length > 0);
    await eventually(() => sockets.at(-1)?.destroyed === true); // at the linger time, after the app's 503
    expectRefusal(await client.end(), ...REQUEST_TIMEOUT);
  });
});

describe('no request is parsed from what a refused client still sends', () => {
  const h = useHarness({ config: { disableAuth: true } });
  // The server ends each connection at the linger time: any answer to a second request would come first.
  const s = serving(h, { lingerMs: 500 });
  const healthz = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';

  it('a valid request pipelined behind a malformed one gets no answer', async () => {
    const exchange = await sendWhileReading(s.port, `NOT-A-METHOD / HTTP/1.1\r\n\r\n${healthz}`);
    expectRefusal(exchange, ...BAD_REQUEST);
    expect(s.requests()).toBe(0);
  });

  it('a valid request sent after the 400 arrived gets no answer', async () => {
    const client = halfOpenClient(s.port);
    client.socket.write('NOT-A-METHOD / HTTP/1.1\r\n\r\n');
    await eventually(() => client.exchange.received.length > 0);
    client.socket.write(healthz);
    const serverSide = s.lastSocket();
    await eventually(() => serverSide?.destroyed === true); // at the linger time, 500 ms
    expectRefusal(await client.end(), ...BAD_REQUEST);
    expect(s.requests()).toBe(0);
  });

  it('a valid request behind a body refused with 413 gets no answer', async () => {
    const body = 'b'.repeat(100_000);
    const before = s.requests();
    const exchange = await sendWhileReading(
      s.port,
      `POST /trpc/billing.limits HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}${healthz}`,
    );
    expectRefusal(exchange, ...BODY_TOO_LARGE);
    expect(s.requests() - before).toBe(1); // the POST, not the GET behind it
  });
});

describe('what a refused client may cost: bounded time and bytes', () => {
  const h = useHarness({ config: { disableAuth: true } });

  /** The server's side of the refused connection, once it has closed. */
  async function closedServerSide(s: ReturnType<typeof serving>) {
    const socket = s.lastSocket();
    if (!socket) throw new Error('no connection');
    await eventually(() => socket.destroyed, 5_000);
    return socket;
  }

  describe('small bounds', () => {
    const bytesBound = serving(h, { lingerMs: 30_000, lingerBytes: 256 * KiB });
    const timeBound = serving(h, { lingerMs: 300 });

    it('a client that never stops sending is cut after the byte bound, its 30 s deadline cleared', async () => {
      const setTimer = vi.spyOn(globalThis, 'setTimeout');
      const clearTimer = vi.spyOn(globalThis, 'clearTimeout');
      try {
        const exchange = await within(
          NEVER_CUT_MS,
          sendWhileReading(bytesBound.port, headerOf(200_000), { forever: true, intervalMs: 0 }),
        );
        expect(answerIn(exchange.received).statusLine).toBe(HEADERS_TOO_LARGE[0]);
        expect(exchange.clientEnded).toBe(false);
        expect(exchange.sentAfterAnswer).toBeGreaterThan(256 * KiB);
        const socket = await closedServerSide(bytesBound);
        expect(socket.bytesRead).toBeLessThanOrEqual(MAX_HEADER_BYTES + ONE_READ + 256 * KiB + ONE_READ);
        expect(await connectionsOf(bytesBound.server)).toBe(0);
        const deadlines = setTimer.mock.calls.flatMap(([, ms], i) =>
          ms === 30_000 ? [setTimer.mock.results[i]?.value] : [],
        );
        expect(deadlines).toHaveLength(1);
        expect(clearTimer).toHaveBeenCalledWith(deadlines[0]);
      } finally {
        setTimer.mockRestore();
        clearTimer.mockRestore();
      }
    });

    it('a client that never stops sending slowly is cut after the time bound', async () => {
      const exchange = await within(
        NEVER_CUT_MS,
        sendWhileReading(timeBound.port, headerOf(200_000), {
          forever: true,
          chunkBytes: KiB,
          intervalMs: 10,
        }),
      );
      expect(answerIn(exchange.received).statusLine).toBe(HEADERS_TOO_LARGE[0]);
      expect(exchange.clientEnded).toBe(false);
      expect(exchange.sentAfterAnswer).toBeGreaterThanOrEqual(4 * KiB); // it lingered, then cut
      const socket = await closedServerSide(timeBound);
      // Cut by time: far short of the byte bound (1 MiB), which a sender this slow reaches ~10 s in.
      expect(socket.bytesRead).toBeLessThan(MAX_HEADER_BYTES + ONE_READ + 512 * KiB);
      expect(await connectionsOf(timeBound.server)).toBe(0);
    });

    it('a lingering connection holds up close() no longer than its bound', async () => {
      const exchange = sendWhileReading(timeBound.port, headerOf(200_000), {
        forever: true,
        chunkBytes: KiB,
        intervalMs: 20,
      });
      await eventually(() => {
        const socket = timeBound.lastSocket();
        return socket !== undefined && isLingering(socket);
      });
      expect(await within(NEVER_CUT_MS, timeBound.server.close(30_000))).toBe(true);
      expect((await exchange).clientEnded).toBe(false);
    });
  });

  describe('the defaults: 1 MiB, 2 s', () => {
    const s = serving(h);

    it('a client that never stops sending is cut after about 1 MiB', async () => {
      const exchange = await within(
        NEVER_CUT_MS,
        sendWhileReading(s.port, headerOf(200_000), { forever: true, intervalMs: 0 }),
      );
      expect(answerIn(exchange.received).statusLine).toBe(HEADERS_TOO_LARGE[0]);
      expect(exchange.clientEnded).toBe(false);
      const socket = await closedServerSide(s);
      expect(socket.bytesRead).toBeGreaterThan(1024 * KiB);
      expect(socket.bytesRead).toBeLessThanOrEqual(MAX_HEADER_BYTES + ONE_READ + 1024 * KiB + ONE_READ);
    });

    it('a client that never stops sending slowly is cut after about 2 s', async () => {
      const exchange = await within(
        NEVER_CUT_MS,
        sendWhileReading(s.port, headerOf(200_000), { forever: true, chunkBytes: KiB, intervalMs: 10 }),
      );
      expect(answerIn(exchange.received).statusLine).toBe(HEADERS_TOO_LARGE[0]);
      expect(exchange.clientEnded).toBe(false);
      expect(exchange.sentAfterAnswer).toBeGreaterThanOrEqual(16 * KiB);
      const socket = await closedServerSide(s);
      // Cut by time: far short of the byte bound (1 MiB), which a sender this slow reaches ~10 s in.
      expect(socket.bytesRead).toBeLessThan(MAX_HEADER_BYTES + ONE_READ + 512 * KiB);
      expect(await connectionsOf(s.server)).toBe(0);
    });
  });
});

function connectionsOf(server: DrainableServer): Promise<number> {
  return new Promise((resolve, reject) =>
    server.server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
  );
}

describe('closeLingering and lingerAfterAnswer on a connection the test holds both ends of', () => {
  let server: NetServer | undefined;
  const open: Socket[] = [];
  afterEach(async () => {
    for (const socket of open.splice(0)) socket.destroy();
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
  });

  /** A connection as an HTTP server's (half-open allowed): the server's end and the client. */
  async function pair() {
    server = createNetServer({ allowHalfOpen: true });
    const serverSide = new Promise<Socket>((resolve) => server?.once('connection', resolve));
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const client = connect({
      port: (server.address() as AddressInfo).port,
      host: '127.0.0.1',
      allowHalfOpen: true,
    });
    client.on('error', () => {});
    const socket = await serverSide;
    open.push(client, socket);
    return { socket, client, server };
  }

  /** The delays of the timers set while `act` runs. */
  function timersSetBy(act: () => void): unknown[] {
    const setTimer = vi.spyOn(globalThis, 'setTimeout');
    try {
      act();
      return setTimer.mock.calls.map(([, ms]) => ms);
    } finally {
      setTimer.mockRestore();
    }
  }

  it('leaves a destroyed connection alone', async () => {
    const { socket } = await pair();
    socket.destroy();
    closeLingering(socket, { timeMs: 1_000, bytes: 10 }, 'answer');
    expect(isLingering(socket)).toBe(false);
  });

  it('keeps the bounds of the first close: a second changes nothing', async () => {
    const { socket } = await pair();
    expect(timersSetBy(() => closeLingering(socket, { timeMs: 30_000, bytes: 10 }))).toEqual([30_000]);
    expect(timersSetBy(() => closeLingering(socket, { timeMs: 20, bytes: 10 }))).toEqual([]);
  });

  it('reads up to the byte bound, and cuts at the first byte past it', async () => {
    const { socket, client } = await pair();
    closeLingering(socket, { timeMs: 30_000, bytes: 10 });
    client.write('0123456789');
    await eventually(() => socket.bytesRead === 10);
    expect(socket.destroyed).toBe(false);
    client.write('!');
    await eventually(() => socket.destroyed);
  });

  it('writes the answer, ends its side, and closes once the client ends its own', async () => {
    const { socket, client } = await pair();
    let received = '';
    client.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    const ended = new Promise((resolve) => client.once('end', resolve));
    closeLingering(socket, { timeMs: 30_000, bytes: 1024 }, 'HTTP/1.1 400 Bad Request\r\n\r\n');
    await ended;
    expect(received).toBe('HTTP/1.1 400 Bad Request\r\n\r\n');
    expect(socket.destroyed).toBe(false);
    client.end();
    await eventually(() => socket.destroyed);
  });

  it('closes at once when the client had ended its side already', async () => {
    const { socket, client } = await pair();
    socket.resume();
    client.end();
    await eventually(() => socket.readableEnded);
    closeLingering(socket, { timeMs: 30_000, bytes: 1024 });
    await eventually(() => socket.destroyed);
  });

  it('takes the connection from the listeners it had: none of them hears another byte or the end', async () => {
    const { socket, client } = await pair();
    const heard: string[] = [];
    socket.on('data', () => heard.push('data'));
    socket.on('end', () => heard.push('end'));
    closeLingering(socket, { timeMs: 30_000, bytes: 1024 });
    client.write('GET / HTTP/1.1\r\n\r\n');
    client.end();
    await eventually(() => socket.destroyed);
    expect(heard).toEqual([]);
  });

  it('takes a reset while lingering as the end it expected, not as an uncaught error', async () => {
    const { socket } = await pair();
    closeLingering(socket, { timeMs: 30_000, bytes: 1024 });
    expect(() => socket.emit('error', new Error('read ECONNRESET'))).not.toThrow();
  });

  it('makes Node’s closing after an answer linger within the bounds its server was given', async () => {
    const { socket, server: net } = await pair();
    lingerOn(net, { timeMs: 1_234, bytes: 1024 });
    lingerAfterAnswer({ socket } as IncomingMessage);
    expect(timersSetBy(() => socket.destroySoon())).toEqual([1_234]);
    expect(isLingering(socket)).toBe(true);
  });

  it('lingers within the defaults on a server given no bounds', async () => {
    const { socket } = await pair();
    lingerAfterAnswer({ socket } as IncomingMessage);
    expect(timersSetBy(() => socket.destroySoon())).toEqual([DEFAULT_LINGER.timeMs]);
  });

  it('leaves a request without a connection, or with a destroyed one, alone', async () => {
    expect(() => lingerAfterAnswer({ socket: null } as unknown as IncomingMessage)).not.toThrow();
    const { socket } = await pair();
    const destroySoon = socket.destroySoon;
    socket.destroy();
    lingerAfterAnswer({ socket } as IncomingMessage);
    expect(socket.destroySoon).toBe(destroySoon);
  });
});
