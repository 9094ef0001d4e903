import { type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { closeLingering, isLingering, type LingerBounds, lingerOn } from './lingering-close.js';

/** A whole HTTP/1.1 answer, written straight to the socket: there is no request to answer through. */
function rawAnswer(status: number, detail: string): string {
  const body = JSON.stringify({ detail });
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

const HEADERS_TOO_LARGE = rawAnswer(431, 'Request header fields too large');
const CHUNK_EXTENSIONS_TOO_LARGE = rawAnswer(413, 'Chunk extensions too large');
const REQUEST_TIMEOUT = rawAnswer(408, 'Request not received in time');
const INVALID_REQUEST = rawAnswer(400, 'Invalid HTTP request');

/** The answer to a refusal Node's server makes, as Node maps them; none to a failed socket. */
function answerTo(code: string | undefined): string | undefined {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return HEADERS_TOO_LARGE;
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return CHUNK_EXTENSIONS_TOO_LARGE;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return REQUEST_TIMEOUT;
    default:
      // Every other parser error (`HPE_INVALID_METHOD`, `HPE_INVALID_CHUNK_SIZE`, …) is a malformed
      // request; anything else (`ECONNRESET`, `EPIPE`) is a connection that can carry no answer.
      return code?.startsWith('HPE_') ? INVALID_REQUEST : undefined;
  }
}

/**
 * The response to a request the app already has on `socket`, if any (its body broke off or timed
 * out, or a malformed request came pipelined behind it). Node's own `socketOnError` looks at the
 * same field.
 */
function responseInFlight(socket: Socket): ServerResponse | null | undefined {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
}

/**
 * Answers what Node's HTTP server refuses before a request reaches the app — headers too large
 * (431), a malformed request (400), a request not received in time (408), chunk extensions too
 * large (413) — with the status, a `{"detail": ...}` body and `Connection: close`, then closes the
 * connection lingering (`closeLingering`). Node's default writes the status and destroys the
 * socket at once, which resets a client still sending: it fails on its write and never reads the
 * answer. Runs only on refusals; nothing is added to a request that is served.
 */
export function answerClientErrors(server: Server, bounds: LingerBounds): void {
  lingerOn(server, bounds);
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (isLingering(socket)) return; // refused already; e.g. the request timeout of a 431'd request
    const answer = answerTo(error.code);
    const inFlight = responseInFlight(socket);
    if (answer === undefined || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    // As in Node, this refusal takes the place of the app's answer (not begun yet): once the socket
    // is ended, Node's response buffers what the app writes instead of writing it after ours.
    closeLingering(socket, bounds, answer);
  });
}
