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
  /** Listens again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<Socket>();
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
    client.pipe(upstream).pipe(client);
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
