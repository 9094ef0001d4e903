/**
 * `answerClientErrors` given each kind of refusal Node's server reports, on a real connection the
 * test holds both ends of: what the client reads, and whether the server's side is kept lingering
 * or destroyed at once. (test/http/lingering-close.test.ts has Node make the refusals itself.)
 */
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { answerClientErrors } from '../../src/http/client-errors.js';
import { isLingering } from '../../src/http/lingering-close.js';
import { refusal } from '../support/refusal.js';

const BOUNDS = { timeMs: 10_000, bytes: 1024 * 1024 };

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** A connection to a server with `answerClientErrors`: the server's end, and what the client reads. */
async function connection() {
  server = createServer(() => {});
  answerClientErrors(server, BOUNDS);
  const serverSide = new Promise<Socket>((resolve) => server?.once('connection', resolve));
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const client = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  let received = '';
  client.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  client.on('error', () => {});
  const ended = new Promise<void>((resolve) => client.once('end', resolve));
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  const socket = await serverSide;
  const refuse = (code: string | undefined) => {
    const error: NodeJS.ErrnoException = new Error('refused');
    if (code !== undefined) error.code = code;
    server?.emit('clientError', error, socket);
  };
  return { socket, client, refuse, received: () => received, ended, closed };
}

describe('answerClientErrors', () => {
  it.each([
    [
      'HPE_HEADER_OVERFLOW',
      refusal('431 Request Header Fields Too Large', 'Request header fields too large'),
    ],
    ['HPE_CHUNK_EXTENSIONS_OVERFLOW', refusal('413 Payload Too Large', 'Chunk extensions too large')],
    ['ERR_HTTP_REQUEST_TIMEOUT', refusal('408 Request Timeout', 'Request not received in time')],
    ['HPE_INVALID_METHOD', refusal('400 Bad Request', 'Invalid HTTP request')],
    ['HPE_INVALID_CHUNK_SIZE', refusal('400 Bad Request', 'Invalid HTTP request')],
  ])('answers %s, then ends its side and lingers', async (code, expected) => {
    const c = await connection();
    c.refuse(code);
    await c.ended;
    expect(c.received()).toBe(expected);
    expect(isLingering(c.socket)).toBe(true);
    expect(c.socket.destroyed).toBe(false);
  });

  it.each([
    ['a reset', 'ECONNRESET'],
    ['a broken pipe', 'EPIPE'],
    ['an error with no code', undefined],
  ])('destroys a connection that failed (%s) without answering', async (_, code) => {
    const c = await connection();
    c.refuse(code);
    expect(c.socket.destroyed).toBe(true);
    expect(isLingering(c.socket)).toBe(false);
    await c.ended;
    expect(c.received()).toBe('');
  });

  it('destroys a connection it can no longer write to', async () => {
    const c = await connection();
    c.socket.end();
    c.refuse('HPE_INVALID_METHOD');
    expect(c.socket.destroyed).toBe(true);
    expect(isLingering(c.socket)).toBe(false);
  });

  it('destroys a connection whose request the app has begun answering: no second status line', async () => {
    const c = await connection();
    Object.assign(c.socket, { _httpMessage: { headersSent: true } });
    c.refuse('ERR_HTTP_REQUEST_TIMEOUT');
    expect(c.socket.destroyed).toBe(true);
    await c.ended;
    expect(c.received()).toBe('');
  });

  it('answers in place of an answer the app has not begun', async () => {
    const c = await connection();
    Object.assign(c.socket, { _httpMessage: { headersSent: false } });
    c.refuse('ERR_HTTP_REQUEST_TIMEOUT');
    await c.ended;
    expect(c.received()).toBe(refusal('408 Request Timeout', 'Request not received in time'));
  });

  it('ignores a second refusal of a connection already lingering: no second answer, not cut', async () => {
    const c = await connection();
    c.refuse('HPE_HEADER_OVERFLOW');
    await c.ended;
    c.refuse('ERR_HTTP_REQUEST_TIMEOUT');
    expect(c.socket.destroyed).toBe(false);
    c.client.write('more of the refused request');
    c.client.end();
    await c.closed;
    expect(c.received()).toBe(
      refusal('431 Request Header Fields Too Large', 'Request header fields too large'),
    );
  });
});
