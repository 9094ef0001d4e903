import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BillingStore } from '../../src/domain/store.js';
import { startTracing, type Tracing } from '../../src/telemetry/tracing.js';
import { attribute, type OtlpSpan, SPAN_KIND, startCollector } from '../support/otlp-collector.js';

/**
 * The spans themselves, in this process: `tracing.test.ts` shows a spawned server wires them up;
 * here each kind of span is started, ended and sent to a collector by the code under test.
 */
const ERROR = 2;
const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

type Collector = Awaited<ReturnType<typeof startCollector>>;

/** Starts tracing to the collector, runs `work`, then shuts down (which sends the batch) and returns the spans it sent. */
async function spansOf(
  collector: Collector,
  work: (tracing: Tracing) => Promise<void>,
  endpoint = collector.url,
) {
  collector.spans.length = 0;
  collector.resources.length = 0;
  const tracing = startTracing({ endpoint, serviceName: 'spans-under-test' });
  await work(tracing);
  await tracing.shutdown();
  return [...collector.spans];
}

const named = (spans: OtlpSpan[], name: string) => spans.find((span) => span.name === name);

/** A store whose calls answer, fail or record that they ran; only the shape tracing wraps. */
function fakeStore(calls: string[]) {
  const closing = new AbortController().signal;
  const store = {
    invalidation: 'notify',
    closing,
    subscribe: () => () => undefined,
    onOutboxCommitted: () => () => undefined,
    ping: async () => {
      calls.push('ping');
    },
    pendingMigrations: async () => 0,
    close: async () => undefined,
    tenants: {
      findTenant: async (tenantId: string) => {
        calls.push(`findTenant ${tenantId}`);
        return { tenantId };
      },
    },
    usage: {
      expireLeases: async () => {
        calls.push('expireLeases');
        return 0;
      },
      reserve: async () => {
        throw new Error('the pool is closed');
      },
    },
    webhooks: {
      recordOrbEvent: async () => {
        // A library may reject with something that is not an Error.
        throw 'connection reset';
      },
    },
    outbox: {
      listEndpoints: async () => {
        calls.push('listEndpoints');
        return [];
      },
      claimDue: async () => {
        calls.push('claimDue');
        return [];
      },
    },
    activity: {
      hourly: async () => {
        calls.push('hourly');
        return [];
      },
      add: async () => {
        calls.push('add');
      },
    },
    consoleSessions: {
      isRevoked: async (sessionId: string) => {
        calls.push(`isRevoked ${sessionId}`);
        return false;
      },
    },
    beforeClose: () => undefined,
  };
  return { store: store as unknown as BillingStore, closing };
}

describe('request and store spans, sent over OTLP/HTTP', () => {
  let collector: Collector;
  beforeAll(async () => {
    collector = await startCollector();
  });
  afterAll(() => new Promise<void>((resolve) => collector.server.close(() => resolve())));

  it('continues the caller’s trace, names the span by route, and records method and status', async () => {
    const spans = await spansOf(collector, async (tracing) => {
      const headers: Record<string, string> = {
        traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01`,
        tracestate: 'vendor=value',
      };
      const span = tracing.startRequestSpan('GET', (name) => headers[name]);
      expect(await span.run(async () => 'answer')).toBe('answer');
      span.end(200, '/billing/limits');
    });
    expect(spans).toHaveLength(1);
    const request = named(spans, 'GET /billing/limits');
    expect(request).toMatchObject({
      kind: SPAN_KIND.server,
      traceId: CALLER_TRACE,
      parentSpanId: CALLER_SPAN,
    });
    expect(request?.traceState).toBe('vendor=value');
    expect(request?.status?.code ?? 0).not.toBe(ERROR);
    expect(attribute(request, 'http.request.method')).toEqual({ stringValue: 'GET' });
    expect(attribute(request, 'http.response.status_code')).toEqual({ intValue: 200 });
    expect(attribute(request, 'http.route')).toEqual({ stringValue: '/billing/limits' });
    expect(JSON.stringify(collector.resources)).toContain('spans-under-test');
  });

  it('starts a new trace without a traceparent, keeps the method as the name when no route matched, and a 404 is no error', async () => {
    const spans = await spansOf(collector, async (tracing) => {
      tracing.startRequestSpan('POST', () => undefined).end(404, undefined);
    });
    const [request] = spans;
    expect(request).toMatchObject({ name: 'POST', kind: SPAN_KIND.server });
    expect(request?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(request?.traceId).not.toBe(CALLER_TRACE);
    expect(request?.parentSpanId ?? '').toBe('');
    expect(attribute(request, 'http.route')).toBeUndefined();
    expect(attribute(request, 'http.response.status_code')).toEqual({ intValue: 404 });
    expect(request?.status?.code ?? 0).not.toBe(ERROR);
  });

  it('marks a 5xx as an error, and a 499 not', async () => {
    const spans = await spansOf(collector, async (tracing) => {
      tracing.startRequestSpan('GET', () => undefined).end(500, '/five-hundred');
      tracing.startRequestSpan('GET', () => undefined).end(499, '/four-ninety-nine');
    });
    expect(named(spans, 'GET /five-hundred')?.status?.code).toBe(ERROR);
    expect(named(spans, 'GET /four-ninety-nine')?.status?.code ?? 0).not.toBe(ERROR);
  });

  it('makes each store call inside a request a client span, child of the request’s span, on every aggregate', async () => {
    const calls: string[] = [];
    const spans = await spansOf(collector, async (tracing) => {
      const { store, closing } = fakeStore(calls);
      const traced = tracing.traceStore(store);
      // What is not a call is kept as it is.
      expect(traced.invalidation).toBe('notify');
      expect(traced.closing).toBe(closing);
      const span = tracing.startRequestSpan('GET', () => undefined);
      await span.run(async () => {
        expect(await traced.tenants.findTenant('org-1')).toEqual({ tenantId: 'org-1' });
        await traced.ping();
        await traced.usage.expireLeases(Date.now());
        expect(await traced.outbox.listEndpoints()).toEqual([]);
        await traced.outbox.claimDue(1, 1_000);
        expect(await traced.activity.hourly({ from: new Date(0), to: new Date(0) })).toEqual([]);
        await traced.activity.add([]);
        expect(await traced.consoleSessions.isRevoked('session-1')).toBe(false);
        traced.beforeClose(async () => undefined);
      });
      span.end(200, '/billing/limits');
    });
    expect(calls).toEqual([
      'findTenant org-1',
      'ping',
      'expireLeases',
      'listEndpoints',
      'claimDue',
      'hourly',
      'add',
      'isRevoked session-1',
    ]);
    const request = named(spans, 'GET /billing/limits');
    for (const name of [
      'store.tenants.findTenant',
      'store.ping',
      'store.outbox.listEndpoints',
      'store.activity.hourly',
      'store.consoleSessions.isRevoked',
    ]) {
      const call = named(spans, name);
      expect(call, name).toMatchObject({
        kind: SPAN_KIND.client,
        traceId: request?.traceId,
        parentSpanId: request?.spanId,
      });
      expect(attribute(call, 'db.system.name')).toEqual({ stringValue: 'postgresql' });
    }
    // The lease sweep, the webhook dispatcher and the activity flush run on every replica, all the
    // time: never a span.
    expect(spans.map((span) => span.name).sort()).toEqual([
      'GET /billing/limits',
      'store.activity.hourly',
      'store.consoleSessions.isRevoked',
      'store.outbox.listEndpoints',
      'store.ping',
      'store.tenants.findTenant',
    ]);
  });

  it('ends a failed call’s span as an error with the exception recorded, and passes the failure on unchanged', async () => {
    const spans = await spansOf(collector, async (tracing) => {
      const traced = tracing.traceStore(fakeStore([]).store);
      await expect(traced.usage.reserve({} as never, {} as never)).rejects.toThrow('the pool is closed');
      await expect(traced.webhooks.recordOrbEvent({} as never, {} as never)).rejects.toBe('connection reset');
    });
    const reserve = named(spans, 'store.usage.reserve');
    expect(reserve?.status?.code).toBe(ERROR);
    expect(JSON.stringify(reserve?.events)).toContain('the pool is closed');
    const orb = named(spans, 'store.webhooks.recordOrbEvent');
    expect(orb?.status?.code).toBe(ERROR);
    expect(JSON.stringify(orb?.events)).toContain('connection reset');
  });

  it('wraps any object’s calls but those skipped, with the given prefix and attributes', async () => {
    const calls: string[] = [];
    const spans = await spansOf(collector, async (tracing) => {
      const target = {
        label: 'kept',
        fetchPlan: async (id: string) => {
          calls.push(id);
          return id.length;
        },
        quiet: async () => 'not traced',
      };
      const traced = tracing.traceCalls(target, {
        prefix: 'orb',
        attributes: { 'server.address': 'api.withorb.com' },
        skip: ['quiet'],
      });
      expect(traced.label).toBe('kept');
      expect(await traced.fetchPlan('plan-7')).toBe(6);
      expect(await traced.quiet()).toBe('not traced');
      // Without attributes or skip: every call is traced, with none.
      await tracing.traceCalls({ quiet: async () => undefined }, { prefix: 'bare' }).quiet();
    });
    expect(calls).toEqual(['plan-7']);
    expect(spans.map((span) => span.name).sort()).toEqual(['bare.quiet', 'orb.fetchPlan']);
    expect(attribute(named(spans, 'orb.fetchPlan'), 'server.address')).toEqual({
      stringValue: 'api.withorb.com',
    });
    expect(named(spans, 'bare.quiet')?.attributes ?? []).toEqual([]);
  });

  it('sends to <endpoint>/v1/traces whether or not the endpoint ends in slashes', async () => {
    const spans = await spansOf(
      collector,
      async (tracing) => tracing.startRequestSpan('GET', () => undefined).end(200, '/slashes'),
      `${collector.url}//`,
    );
    expect(spans.map((span) => span.name)).toEqual(['GET /slashes']);
  });
});
