import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BillingStore } from '../../src/domain/store.js';
import { MAX_BODY_BYTES } from '../../src/http/body-limit.js';
import { type DrainableServer, listen } from '../../src/http/node-server.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { useHarness } from '../support/harness.js';
import { refusal } from '../support/refusal.js';

/** Writes raw bytes on a fresh connection and resolves with everything the server sent before closing. */
function rawExchange(port: number, bytes: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms; got: ${received}`));
    }, timeoutMs);
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.on('error', () => {}); // the server may reset after answering
    socket.write(bytes);
  });
}

describe('request size and time limits over a real socket', () => {
  const h = useHarness({ config: { disableAuth: true } });
  let server: DrainableServer;
  beforeAll(async () => {
    server = await listen(h.app.fetch, {
      port: 0,
      hostname: '127.0.0.1',
      maxHeaderBytes: 4_096,
      requestTimeoutMs: 300,
    });
  });
  afterAll(() => server?.close(1_000));

  it('answers 431 to headers over the cap, and still serves the next caller', async () => {
    const res = await fetch(`${server.origin}/billing/limits`, {
      headers: { 'tenant-id': 'org-1', 'x-padding': 'p'.repeat(8_192) },
    });
    expect(res.status).toBe(431);
    expect(res.headers.get('connection')).toBe('close');
    expect(await res.json()).toEqual({ detail: 'Request header fields too large' });
    const ok = await fetch(`${server.origin}/billing/limits`, { headers: { 'tenant-id': 'org-1' } });
    expect(ok.status).toBe(200);
  });

  it('answers 408 to a client that never finishes its headers', async () => {
    const answer = await rawExchange(server.address.port, 'GET /billing/limits HTTP/1.1\r\nHost: x\r\n');
    expect(answer).toBe(refusal('408 Request Timeout', 'Request not received in time'));
  });

  it('answers 408 to a client that never finishes its body', async () => {
    const answer = await rawExchange(
      server.address.port,
      'POST /billing/reservations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":',
    );
    expect(answer).toBe(refusal('408 Request Timeout', 'Request not received in time'));
  });

  it.each([
    ['an unknown method', 'NOT-A-METHOD / HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a space in a header name', 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n'],
    [
      'a broken chunk size',
      'POST /trpc/billing.limits HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    ],
  ])('answers 400 to a malformed request (%s)', async (_what, request) => {
    const answer = await rawExchange(server.address.port, request);
    expect(answer).toBe(refusal('400 Bad Request', 'Invalid HTTP request'));
  });

  it('answers 413 to chunk extensions over Node’s 16 KiB', async () => {
    const answer = await rawExchange(
      server.address.port,
      `POST /trpc/billing.limits HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;ext=${'x'.repeat(20_000)}\r\na\r\n0\r\n\r\n`,
    );
    expect(answer).toBe(refusal('413 Payload Too Large', 'Chunk extensions too large'));
  });

  it('answers 413 to a tRPC body over the cap', async () => {
    const res = await fetch(`${server.origin}/trpc/billing.limits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ padding: 'p'.repeat(MAX_BODY_BYTES) }),
    });
    expect(res.status).toBe(413);
    expect(res.headers.get('connection')).toBe('close');
    expect(await res.json()).toEqual({ detail: `Request body larger than ${MAX_BODY_BYTES} bytes` });
  });

  it('answers 413 to a body over the cap without Node too (app.request: no connection to linger on)', async () => {
    const res = await h.request('/trpc/billing.limits', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ padding: 'p'.repeat(MAX_BODY_BYTES) }),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ detail: `Request body larger than ${MAX_BODY_BYTES} bytes` });
  });

  it('answers 413 to a chunked body that grows past the cap without announcing its length', async () => {
    const chunk = new TextEncoder().encode('p'.repeat(16 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // Bounded: one chunk more than the cap allows, then the end.
        if (sent > MAX_BODY_BYTES) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const res = await fetch(`${server.origin}/trpc/billing.limits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(res.headers.get('connection')).toBe('close');
  });
});

describe('a handler that takes too long', () => {
  const h = useHarness({ store: 'pglite', config: { disableAuth: true } });

  /** The store, with its tenant reads replaced. */
  const withFindTenant = (findTenant: BillingStore['tenants']['findTenant']): BillingStore => ({
    ...h.store,
    tenants: { ...h.store.tenants, findTenant },
  });

  it('is answered 503 "Request timed out" at the deadline, with its request id, and counted', async () => {
    let release: () => void = () => {};
    const stuck = withFindTenant(
      () =>
        new Promise((resolve) => {
          release = () => resolve(undefined);
        }),
    );
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (line: string) => void lines.push(line) } });
    const app = h.withApp({ dependencies: { store: stuck, logger }, config: { requestTimeoutMs: 100 } });
    try {
      const res = await app.request('/billing/limits', {
        headers: { 'tenant-id': 'org-slow', 'x-request-id': 'slow-1' },
      });
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ detail: 'Request timed out' });
      expect(res.headers.get('x-request-id')).toBe('slow-1');
      expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ req_id: 'slow-1', status: 503 });
      const metrics = await (await app.request('/metrics')).text();
      expect(metrics).toMatch(
        /http_server_request_duration_count\{[^}]*http_response_status_code="503"[^}]*\} 1/,
      );
    } finally {
      release();
    }
  });

  it('is not cut short when the deadline is off', async () => {
    const slow = withFindTenant(
      (id) => new Promise((resolve) => setTimeout(() => resolve(h.store.tenants.findTenant(id)), 150)),
    );
    const app = h.withApp({ dependencies: { store: slow }, config: { requestTimeoutMs: 0 } });
    const res = await app.request('/billing/limits', { headers: { 'tenant-id': 'org-unknown-slow' } });
    expect(res.status).toBe(404);
  });
});
