import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKER_SECRET, workerToken } from '../support/harness.js';
import { attribute, SPAN_KIND, startCollector } from '../support/otlp-collector.js';
import { spawnServer } from '../support/spawn-server.js';

describe('traces over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set', () => {
  let collector: Awaited<ReturnType<typeof startCollector>>;
  beforeAll(async () => {
    collector = await startCollector();
  });
  afterAll(() => new Promise<void>((resolve) => collector.server.close(() => resolve())));

  it('sends a server span per request with the store calls as its children, continuing the caller’s trace', async () => {
    const server = await spawnServer({
      BILLING_JWT_SECRET: WORKER_SECRET,
      OTEL_EXPORTER_OTLP_ENDPOINT: `${collector.url}/`,
      OTEL_SERVICE_NAME: 'billing-under-test',
    });
    const origin = server.output().match(/listening on (\S+)/)?.[1] ?? '';
    expect(server.output()).toContain(`Traces: OTLP to ${collector.url}/`);
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const res = await fetch(`${origin}/billing/limits`, {
      headers: {
        authorization: `Bearer ${await workerToken()}`,
        'tenant-id': 'org-789',
        traceparent: `00-${callerTrace}-${callerSpan}-01`,
      },
    });
    expect(res.status).toBe(200);
    expect(await server.stop()).toBe(0); // shutting down flushes the batch

    const request = collector.spans.find((span) => span.name === 'GET /billing/limits');
    expect(request).toMatchObject({ kind: SPAN_KIND.server, traceId: callerTrace, parentSpanId: callerSpan });
    expect(attribute(request, 'http.route')).toEqual({ stringValue: '/billing/limits' });
    expect(attribute(request, 'http.response.status_code')).toEqual({ intValue: 200 });

    const storeCall = collector.spans.find((span) => span.name === 'store.tenants.findTenant');
    expect(storeCall).toMatchObject({
      kind: SPAN_KIND.client,
      traceId: callerTrace,
      parentSpanId: request?.spanId,
    });
    expect(JSON.stringify(collector.resources)).toContain('billing-under-test');
    // Spans carry no secrets either.
    expect(JSON.stringify(collector.spans)).not.toContain(WORKER_SECRET);
    expect(JSON.stringify(collector.spans)).not.toContain('Bearer');
  }, 30_000);
});
