/**
 * The outbound sender on its own, against real servers on loopback: what it sends, and each way
 * an attempt can fail in words the deliveries list shows (`last_error`).
 */
import { once } from 'node:events';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createWebhookSender } from '../../src/http/webhook-sender.js';

const REQUEST = {
  headers: {
    'content-type': 'application/json',
    'webhook-id': 'evt-1',
    'webhook-timestamp': '1',
    'webhook-signature': 'v1,x',
  },
  body: '{"type":"limits.changed","data":{"tenant_id":"org-ü"}}',
};

interface Received {
  method: string | undefined;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A server on `host` answering each request with `answer`, closed when the test ends. */
async function serve(
  host: string,
  answer: (res: ServerResponse) => void = (res) => res.writeHead(200).end(),
  server: Server = createHttpServer(),
) {
  const received: Received[] = [];
  let connections = 0;
  server.on('connection', () => connections++);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      received.push({ method: req.method, headers: req.headers, body });
      answer(res);
    });
  });
  server.listen(0, host);
  await once(server, 'listening');
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as AddressInfo).port, received, connections: () => connections };
}

describe('the webhook sender', () => {
  it('POSTs the body with the signed headers, its length and a user agent; answers the status', async () => {
    const server = await serve('127.0.0.1', (res) => res.writeHead(204).end());
    const send = createWebhookSender({ allowPrivate: true });
    expect(await send(`http://127.0.0.1:${server.port}/hook?x=1`, REQUEST, 2_000)).toEqual({
      statusCode: 204,
    });
    expect(server.received).toHaveLength(1);
    const [request] = server.received;
    expect(request?.method).toBe('POST');
    expect(request?.body).toBe(REQUEST.body);
    expect(request?.headers).toMatchObject({
      ...REQUEST.headers,
      'content-length': String(Buffer.byteLength(REQUEST.body)),
      'user-agent': 'billing-limits-service',
    });
  });

  it('refuses an IPv6 loopback literal without connecting, and sends to it when private addresses are allowed', async () => {
    const server = await serve('::1');
    const url = `http://[::1]:${server.port}/hook`;
    expect(await createWebhookSender({ allowPrivate: false })(url, REQUEST, 2_000)).toEqual({
      error: 'refused address ::1',
    });
    expect(server.connections()).toBe(0);
    expect(await createWebhookSender({ allowPrivate: true })(url, REQUEST, 2_000)).toEqual({
      statusCode: 200,
    });
  });

  it('refuses a name that resolves to loopback, in the guard’s words, without connecting', async () => {
    const server = await serve('127.0.0.1');
    const result = await createWebhookSender({ allowPrivate: false })(
      `http://localhost:${server.port}/hook`,
      REQUEST,
      2_000,
    );
    expect(result).toEqual({
      error: expect.stringMatching(/^host localhost resolves to (127\.0\.0\.1|::1), /),
    });
    expect(server.connections()).toBe(0);
  });

  it('says when no answer came within the timeout', async () => {
    const server = await serve('127.0.0.1', () => {});
    const result = await createWebhookSender({ allowPrivate: true })(
      `http://127.0.0.1:${server.port}/hook`,
      REQUEST,
      150,
    );
    expect(result).toEqual({ error: 'no answer within 150 ms' });
  });

  it('names a refused connection by its code', async () => {
    // A port that was just free: nothing listens there now.
    const probe = createHttpServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
    const free = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const result = await createWebhookSender({ allowPrivate: true })(
      `http://127.0.0.1:${free}/hook`,
      REQUEST,
      2_000,
    );
    expect(result).toEqual({ error: expect.stringMatching(/^ECONNREFUSED: /) });
  });

  it('speaks TLS to an https URL (and fails on a certificate it cannot trust)', async () => {
    // A TLS server without a certificate: the handshake fails, which only an https client reaches.
    const server = await serve('127.0.0.1', undefined, createHttpsServer());
    const result = await createWebhookSender({ allowPrivate: true })(
      `https://127.0.0.1:${server.port}/hook`,
      REQUEST,
      2_000,
    );
    expect(result).toEqual({ error: expect.stringMatching(/^(ECONNRESET|EPROTO|ERR_SSL_\w+): /) });
    expect(server.received).toEqual([]);
  });
});
