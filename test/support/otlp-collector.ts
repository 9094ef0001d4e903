import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A span as OTLP/HTTP JSON carries it. */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: Record<string, unknown> }[];
  /** Left out (or code 0, unset) unless the span failed: code 2 is ERROR. */
  status?: { code?: number };
  events?: { name: string; attributes?: { key: string; value: Record<string, unknown> }[] }[];
}

export const SPAN_KIND = { server: 2, client: 3 } as const;

/** A minimal OpenTelemetry collector: keeps every span POSTed to /v1/traces. */
export function startCollector() {
  const spans: OtlpSpan[] = [];
  const resources: unknown[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const payload = JSON.parse(body) as {
          resourceSpans: { resource: unknown; scopeSpans: { spans: OtlpSpan[] }[] }[];
        };
        for (const { resource, scopeSpans } of payload.resourceSpans) {
          resources.push(resource);
          for (const scope of scopeSpans) spans.push(...scope.spans);
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise<{ server: Server; url: string; spans: OtlpSpan[]; resources: unknown[] }>((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        server,
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        spans,
        resources,
      }),
    ),
  );
}

export const attribute = (span: OtlpSpan | undefined, key: string) =>
  span?.attributes?.find((entry) => entry.key === key)?.value;
