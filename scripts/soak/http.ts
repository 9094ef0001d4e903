import { Agent, request } from 'node:http';

export interface HttpAnswer {
  status: number;
  body: string;
  ms: number;
}

/** A failure to get any answer (refused, reset, timed out): always an error in the soak. */
export class NetworkError extends Error {
  constructor(
    message: string,
    readonly ms: number,
  ) {
    super(message);
  }
}

/**
 * Keep-alive HTTP/1.1 over `node:http` — lighter than `fetch` on a machine whose cores the replicas
 * and PostgreSQL share. FIFO scheduling keeps every pooled socket busy, so none idles into the
 * server's keep-alive timeout and gets reused just as the server closes it.
 */
export class HttpClient {
  private readonly agent: Agent;

  constructor(
    maxSockets: number,
    private readonly timeoutMs = 15_000,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets, scheduling: 'fifo' });
  }

  send(
    origin: string,
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<HttpAnswer> {
    const started = performance.now();
    const url = new URL(path, origin);
    return new Promise((resolve, reject) => {
      const fail = (error: Error) => reject(new NetworkError(error.message, performance.now() - started));
      const req = request(
        url,
        {
          method,
          agent: this.agent,
          headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', fail);
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              ms: performance.now() - started,
            }),
          );
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer in ${this.timeoutMs} ms`)));
      req.on('error', fail);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
