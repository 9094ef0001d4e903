import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay between a client and a server (the service and PostgreSQL) that a test can cut, as
 * a stopped database would be, and restore — without touching the database itself.
 */
export interface TcpProxy {
  readonly port: number;
  /** The same URL, pointed at the proxy. */
  through(url: string): string;
  /** Drops every open connection and refuses new ones (the port stops listening), until restored. */
  cut(): Promise<void>;
  /**
   * Holds every byte in both directions, on open connections and new ones (which still connect),
   * as a stalled database would — nothing fails, nothing answers — until `resume`.
   */
  stall(): void;
  /** Delivers what was held, in order, and relays again. */
  resume(): void;
  /** Listens again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let held: (() => void)[] | undefined;
  /** `from`'s bytes written to `to`, or held while stalled. */
  const relay = (from: Socket, to: Socket) =>
    from.on('data', (chunk: Buffer) => {
      if (held) held.push(() => to.write(chunk));
      else to.write(chunk);
    });
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    relay(client, upstream);
    relay(upstream, client);
  });
  const listenOn = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stopListening = () => {
    for (const socket of open) socket.destroy();
    open.clear();
    return new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
  };
  await listenOn(0);
  const { port } = server.address() as AddressInfo;
  return {
    port,
    through: (url) => pointedAt(url, port),
    stall() {
      held ??= [];
    },
    resume() {
      const release = held ?? [];
      held = undefined;
      for (const write of release) write();
    },
    cut: stopListening,
    restore: () => listenOn(port),
    close: stopListening,
  };
}

/** `url` with its host and port replaced by a local stand-in's (a TCP proxy, a pooler) on `port`. */
export function pointedAt(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(port);
  return parsed.toString();
}
