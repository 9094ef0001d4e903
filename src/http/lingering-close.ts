import type { IncomingMessage } from 'node:http';
import type { Server, Socket } from 'node:net';

/** How long, and how much, a refused client may go on sending before its connection is closed. */
export interface LingerBounds {
  /** From the refusal to the close at the latest. */
  timeMs: number;
  /** Read and discarded after the refusal, at most (one read of up to 64 KiB may pass it). */
  bytes: number;
}

/**
 * 2 s, and 1 MiB: comfortably above the largest request a client may still be sending when it
 * is refused (a 200 kB header, a 256 KiB webhook), as clients such as Python's `httpx` send the
 * whole request before they read the answer.
 */
export const DEFAULT_LINGER: LingerBounds = { timeMs: 2_000, bytes: 1024 * 1024 };

const lingering = new WeakSet<Socket>();
const boundsByServer = new WeakMap<Server, LingerBounds>();
const ignore = () => {};

/** Refused clients of `server` are closed lingering within `bounds` (else within `DEFAULT_LINGER`). */
export function lingerOn(server: Server, bounds: LingerBounds): void {
  boundsByServer.set(server, bounds);
}

/** True once `socket` is being closed lingering. */
export function isLingering(socket: Socket): boolean {
  return lingering.has(socket);
}

/**
 * Ends a refused client's connection after `answer` as nginx's `lingering_close` does. Closing a
 * socket with unread input makes the kernel send a reset, and a client still sending its request
 * (a big header, a big body) then fails on its write and never reads the answer. So: stop parsing
 * (no further request is read from these bytes), write the answer, send FIN after it, and read and
 * discard whatever the client still sends until it closes its side — or the bounds are reached,
 * then cut. Idempotent: a second refusal of the same socket (a request timeout after a 431) is
 * ignored.
 */
export function closeLingering(socket: Socket, bounds: LingerBounds, answer?: string): void {
  if (lingering.has(socket) || socket.destroyed) return;
  lingering.add(socket);
  stopParsing(socket);
  let drained = 0;
  const cut = () => socket.destroy();
  const deadline = setTimeout(cut, bounds.timeMs);
  socket.once('close', () => clearTimeout(deadline));
  socket.on('error', ignore); // a reset by the client, or by our own cut, is the expected end
  // Through the socket's own `on`: Node's HTTP server then stops feeding its parser from the
  // socket handle (`unconsume`), and the bytes arrive here instead.
  socket.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > bounds.bytes) cut();
  });
  socket.on('end', () => destroyWhenFlushed(socket));
  socket.resume(); // the parser may have paused it (a body nobody was reading)
  if (socket.readableEnded) destroyWhenFlushed(socket);
  if (answer !== undefined && socket.writable) socket.write(answer);
  socket.end();
}

/**
 * For a refusal the app answers itself (a body too large) with `Connection: close`: once Node has
 * written that answer and closes the connection, it closes lingering instead of at once. Node
 * closes such a connection with `socket.destroySoon()` (and @hono/node-server its undrained
 * requests the same way), whose destroy right after the FIN would reset a client still uploading.
 */
export function lingerAfterAnswer(incoming: IncomingMessage): void {
  const { socket } = incoming;
  if (!socket || socket.destroyed) return;
  const server = (socket as Socket & { server?: Server }).server;
  const bounds = (server && boundsByServer.get(server)) ?? DEFAULT_LINGER;
  socket.destroySoon = () => closeLingering(socket, bounds);
}

/**
 * Takes the socket from Node's HTTP parser: its `data` and `end` listeners go (the parser's; net's
 * own `end` listener only matters without `allowHalfOpen`, which an HTTP server's sockets have), so
 * no byte after the refusal is parsed and a client's FIN no longer makes the parser report the
 * truncated request once more.
 */
function stopParsing(socket: Socket): void {
  for (const listener of socket.listeners('data')) socket.off('data', listener as (chunk: Buffer) => void);
  for (const listener of socket.listeners('end')) socket.off('end', listener as () => void);
}

function destroyWhenFlushed(socket: Socket): void {
  if (socket.writableFinished) socket.destroy();
  else socket.once('finish', () => socket.destroy());
}
