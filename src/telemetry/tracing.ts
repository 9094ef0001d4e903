import {
  type Attributes,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVICE_NAME,
} from '@opentelemetry/semantic-conventions';
import type { BillingStore } from '../domain/store.js';

/** One request's server span: the handler runs inside it, so store calls become its children. */
export interface RequestSpan {
  run<T>(handler: () => Promise<T>): Promise<T>;
  end(status: number, route: string | undefined): void;
}

export interface RequestTracer {
  /** Starts a server span, continuing the caller's trace when it sent a W3C `traceparent`. */
  startRequestSpan(method: string, header: (name: string) => string | undefined): RequestSpan;
}

export interface Tracing extends RequestTracer {
  /** The same object with a client span around each of its methods (`store.findTenant`, …) but those in `skip`. */
  traceCalls<T extends object>(
    target: T,
    options: { prefix: string; attributes?: Attributes; skip?: readonly string[] },
  ): T;
  /** The store with a client span around each call of each aggregate (`store.tenants.findTenant`, …). */
  traceStore(store: BillingStore): BillingStore;
  /** Sends what is still buffered and stops. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** `OTEL_EXPORTER_OTLP_ENDPOINT`: the collector's base URL; spans go to `<endpoint>/v1/traces` (OTLP/HTTP). */
  endpoint: string;
  serviceName: string;
}

/**
 * Traces exported over OTLP/HTTP. Registers the provider globally (an AsyncLocalStorage context
 * manager and the W3C propagator), which is what lets a store call find the request it belongs
 * to — so a process starts tracing once, from `src/server.ts`.
 */
export function startTracing(options: TracingOptions): Tracing {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }),
    spanProcessors: [
      new BatchSpanProcessor(
        new OTLPTraceExporter({ url: `${options.endpoint.replace(/\/+$/, '')}/v1/traces` }),
      ),
    ],
  });
  provider.register();
  const tracer = provider.getTracer('billing-limits-service');

  return {
    startRequestSpan(method, header) {
      const carrier = { traceparent: header('traceparent'), tracestate: header('tracestate') };
      const parent = propagation.extract(ROOT_CONTEXT, carrier, {
        keys: (c) => Object.keys(c),
        get: (c, key) => c[key as keyof typeof c],
      });
      const span = tracer.startSpan(
        method,
        { kind: SpanKind.SERVER, attributes: { [ATTR_HTTP_REQUEST_METHOD]: method } },
        parent,
      );
      const active = trace.setSpan(parent, span);
      return {
        run: (handler) => context.with(active, handler),
        end(status, route) {
          span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
          if (route) {
            span.setAttribute(ATTR_HTTP_ROUTE, route);
            span.updateName(`${method} ${route}`);
          }
          // Server spans are errors on 5xx only (semantic conventions): a 404 is the caller's.
          if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
        },
      };
    },
    traceCalls: (target, { prefix, attributes = {}, skip = [] }) =>
      traceCalls(tracer, target, prefix, attributes, skip),
    traceStore(store) {
      const attributes = { 'db.system.name': 'postgresql' };
      return {
        ...traceCalls(tracer, store, 'store', attributes, [
          'subscribe',
          'onOutboxCommitted',
          'beforeClose',
          'tenants',
          'usage',
          'webhooks',
          'outbox',
          'activity',
          'consoleSessions',
        ]),
        tenants: traceCalls(tracer, store.tenants, 'store.tenants', attributes, []),
        // The lease sweep runs every second on every replica, outside any request: not a trace each time.
        usage: traceCalls(tracer, store.usage, 'store.usage', attributes, ['expireLeases']),
        webhooks: traceCalls(tracer, store.webhooks, 'store.webhooks', attributes, []),
        // The dispatcher's calls run on every replica, outside any request, as the sweep's do.
        outbox: traceCalls(tracer, store.outbox, 'store.outbox', attributes, [
          'claimDue',
          'finishAttempt',
          'nextDueInMs',
          'pendingCount',
        ]),
        // The flush and the pruning run on every replica, outside any request; reads are traced.
        activity: traceCalls(tracer, store.activity, 'store.activity', attributes, ['add', 'prune']),
        consoleSessions: traceCalls(tracer, store.consoleSessions, 'store.consoleSessions', attributes, []),
      };
    },
    shutdown: () => provider.shutdown(),
  };
}

function traceCalls<T extends object>(
  tracer: Tracer,
  target: T,
  prefix: string,
  attributes: Attributes,
  skip: readonly string[],
): T {
  const traced: Record<string, unknown> = { ...(target as Record<string, unknown>) };
  for (const [name, method] of Object.entries(target)) {
    if (typeof method !== 'function' || skip.includes(name)) continue;
    traced[name] = async (...args: unknown[]) => {
      const span = tracer.startSpan(`${prefix}.${name}`, { kind: SpanKind.CLIENT, attributes });
      try {
        const value: unknown = await method.apply(target, args);
        span.end();
        return value;
      } catch (error) {
        return failed(span, error);
      }
    };
  }
  return traced as T;
}

function failed(span: Span, error: unknown): never {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
  throw error;
}
