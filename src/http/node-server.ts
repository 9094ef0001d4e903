import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { type AddressInfo, Server as NetServer } from 'node:net';
import { serve } from '@hono/node-server';
import { answerClientErrors } from './client-errors.js';
import { DEFAULT_LINGER } from './lingering-close.js';

type Fetch = (request: Request, env: { incoming: IncomingMessage; outgoing: ServerResponse }) => unknown;

export interface ListenOptions {
  port: number;
  hostname: string;
  /** Request line and headers together; Node answers 431 past it. */
  maxHeaderBytes?: number;
  /** Receiving a whole request (headers and body) may take this long; Node answers 408 past it. 0 = no limit. */
  requestTimeoutMs?: number;
  /**
   * A refused client (431, 400, 408, 413) may go on sending this long after its answer before its
   * connection is closed — so it gets to read the answer instead of a reset. Default 2 s.
   */
  lingerMs?: number;
  /** …and this much, read and discarded. Default 1 MiB. */
  lingerBytes?: number;
}

/** A listening HTTP server that can be drained: closed without failing a request it accepted. */
export interface DrainableServer {
  readonly server: Server;
  readonly address: AddressInfo;
  /** `http://host:port` as a client would write it. */
  readonly origin: string;
  /** From now on every answer carries `Connection: close`, so clients move their next request elsewhere. */
  startDraining(): void;
  /**
   * Stops accepting connections and waits for in-flight requests to finish and keep-alive
   * connections to end; after `timeoutMs` the connections still open are cut. A refused client's
   * connection ends within its linger bounds. Resolves `true` when no request had to be cut.
   */
  close(timeoutMs: number): Promise<boolean>;
  /** Requests being answered right now. */
  inFlight(): number;
}

const netClose = NetServer.prototype.close;

/** Node checks its request timers on this interval; a 408 comes at most this late. */
function checkingIntervalOf(requestTimeoutMs: number): number {
  return requestTimeoutMs > 0 ? Math.max(50, Math.min(1_000, Math.floor(requestTimeoutMs / 4))) : 30_000;
}

/** Serves `fetch` (a Hono app's) on Node's HTTP server with the service's request limits. */
export function listen(fetch: Fetch, options: ListenOptions): Promise<DrainableServer> {
  const requestTimeout = options.requestTimeoutMs ?? 0;
  let inFlight = 0;
  let draining = false;
  const leave = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader('Connection', 'close');
  };
  /**
   * Requests are counted around the app's `fetch`, not with a listener on each response: a
   * `close` listener per response (and the set holding the responses until then) cost bare Hono
   * ~20 µs of CPU a request, measured. A request counts from its arrival until its answer is made
   * (Node writes it right after); one arriving while draining, or answered then, says
   * `Connection: close`.
   */
  const counted: Fetch = (request, env) => {
    inFlight++;
    const { outgoing } = env;
    if (draining) leave(outgoing);
    let answer: unknown;
    try {
      answer = fetch(request, env);
    } catch (error) {
      inFlight--;
      throw error;
    }
    if (!(answer instanceof Promise)) {
      inFlight--;
      return answer;
    }
    return answer.then(
      (response: unknown) => {
        inFlight--;
        if (draining) leave(outgoing);
        return response;
      },
      (error: unknown) => {
        inFlight--;
        throw error;
      },
    );
  };
  return new Promise((resolve, reject) => {
    const server = serve({
      fetch: counted as Parameters<typeof serve>[0]['fetch'],
      port: options.port,
      hostname: options.hostname,
      serverOptions: {
        ...(options.maxHeaderBytes ? { maxHeaderSize: options.maxHeaderBytes } : {}),
        requestTimeout,
        // Node refuses a headers timeout above the request timeout; 0 turns both off.
        headersTimeout: requestTimeout,
        connectionsCheckingInterval: checkingIntervalOf(requestTimeout),
      },
    }) as Server;
    answerClientErrors(server, {
      timeMs: options.lingerMs ?? DEFAULT_LINGER.timeMs,
      bytes: options.lingerBytes ?? DEFAULT_LINGER.bytes,
    });
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve({
        server,
        address,
        origin: `http://${host}:${address.port}`,
        startDraining() {
          draining = true;
        },
        close(timeoutMs) {
          draining = true;
          return new Promise<boolean>((done) => {
            let cut = false;
            const timer = setTimeout(() => {
              cut = inFlight > 0;
              server.closeAllConnections();
            }, timeoutMs);
            // `net.Server#close`, not `http.Server#close`, which also destroys every connection without a
            // request in progress: a client may be writing its next request on one at that very moment
            // and would see a reset. Left open, such a connection either brings one more request
            // (answered with `Connection: close`) or ends at the keep-alive timeout the client was told.
            netClose.call(server, () => {
              clearTimeout(timer);
              server.close(); // now only stops Node's request-timeout checks
              done(!cut);
            });
          });
        },
        inFlight: () => inFlight,
      });
    });
  });
}
