import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { onTestFinished } from 'vitest';

/** One POST as the receiver read it. */
export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  body: string;
  /** The status the receiver answered. */
  status: number;
  at: number;
}

export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>/hook` */
  readonly url: string;
  readonly received: ReceivedWebhook[];
  /**
   * What to answer each request, in order of arrival; once used up, `fallback` (default 200).
   * A function decides per request.
   */
  answer(
    statuses:
      | number[]
      | ((request: { headers: IncomingHttpHeaders; body: string }) => number | Promise<number>),
  ): void;
  /** Received bodies parsed, in arrival order, optionally only those whose data names `tenantId`. */
  payloads(tenantId?: string): { type: string; timestamp: string; data: Record<string, unknown> }[];
  close(): Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1 that records every webhook it receives and answers as told,
 * closed when the test ends.
 */
export async function startWebhookReceiver(options: { fallback?: number } = {}): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  let decide: (request: { headers: IncomingHttpHeaders; body: string }) => number | Promise<number> = () =>
    options.fallback ?? 200;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const status = await decide({ headers: req.headers, body });
      received.push({ headers: req.headers, body, status, at: Date.now() });
      res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  onTestFinished(close);
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    answer(statuses) {
      if (typeof statuses === 'function') {
        decide = statuses;
        return;
      }
      const queue = [...statuses];
      decide = () => queue.shift() ?? options.fallback ?? 200;
    },
    payloads(tenantId) {
      return received
        .map(
          (request) =>
            JSON.parse(request.body) as { type: string; timestamp: string; data: Record<string, unknown> },
        )
        .filter((payload) => tenantId === undefined || payload.data['tenant_id'] === tenantId);
    },
    close,
  };
}
