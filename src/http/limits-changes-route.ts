import type { TrackedEnvelope } from '@trpc/server';
import { toFastApiFailure } from '../api/errors.js';
import { proceduresOf } from '../api/procedures.js';
import { STREAM_HEARTBEAT_MS } from '../api/trpc.js';
import type { LocateField } from '../api/validation-issues.js';
import { LIMITS_CHANGES_HEADERS, type LimitsStreamMessage } from '../contract/limits-changes.js';
import { firstHeaderValue, headerText } from './request-headers.js';
import type { ObservedRoutes } from './request-observer.js';
import { type EdgeOptions, failureResponse } from './rest-routes.js';

export const LIMITS_CHANGES_PATH = '/billing/limits/changes';

type StreamedMessage = TrackedEnvelope<LimitsStreamMessage>;

const SSE_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache',
  // nginx (and proxies that follow it) would otherwise hold the events back in its buffer.
  'X-Accel-Buffering': 'no',
  // A stream ends only to be made again (the subscriber reconnects with its last id): its connection
  // is not kept for another request, so a server shutting down is not held by it afterwards.
  Connection: 'close',
} as const;

/** One message as an SSE event: its id (the sequence to resume after), its name, its data. */
function eventOf([id, message]: StreamedMessage): string {
  return `id: ${id}\nevent: ${message.type}\ndata: ${JSON.stringify(message.data)}\n\n`;
}

/**
 * `GET /billing/limits/changes`: the `billing.limitsChanges` subscription as plain Server-Sent
 * Events, for any HTTP client and the browser's `EventSource` — which resends the last id it
 * received as `Last-Event-ID` when it reconnects. The procedure runs as its REST siblings do
 * (worker token, then the headers as its input), and its first message (`ready`) is read before
 * answering, so a refusal or a store that cannot answer is a FastAPI-style error, not a stream.
 */
export function mountLimitsChangesRoute(
  routes: ObservedRoutes,
  options: EdgeOptions,
  { heartbeatMs = STREAM_HEARTBEAT_MS }: { heartbeatMs?: number | undefined } = {},
): void {
  const procedure = proceduresOf().find(({ path }) => path === 'billing.limitsChanges');
  if (!procedure) throw new Error('billing.limitsChanges is not in the router');
  const headers = Object.entries(LIMITS_CHANGES_HEADERS);
  const headerOf = new Map<string, string>(headers);
  const locate: LocateField = ([field]) => ['header', headerOf.get(String(field)) ?? String(field)];
  const encoder = new TextEncoder();

  routes.on('GET', LIMITS_CHANGES_PATH, async (c) => {
    const input: Record<string, string> = {};
    for (const [field, header] of headers) {
      const value = firstHeaderValue(c, header);
      if (value !== undefined) input[field] = headerText(value);
    }
    // Ends the subscription when the caller goes away (the body is cancelled) or it fails here.
    const ended = new AbortController();
    let messages: AsyncIterator<StreamedMessage>;
    let ready: IteratorResult<StreamedMessage>;
    try {
      const stream = (await procedure.run(
        { ...options.createContext(c), signal: ended.signal },
        input,
      )) as AsyncIterable<StreamedMessage>;
      messages = stream[Symbol.asyncIterator]();
      ready = await messages.next();
    } catch (error) {
      ended.abort();
      const failure = toFastApiFailure(error, input, locate);
      if (failure.status >= 500) options.onServerError(error, failure.status, c);
      return failureResponse(c, failure);
    }
    let heartbeat: ReturnType<typeof setInterval> | undefined;
    const finish = () => {
      clearInterval(heartbeat);
      ended.abort();
    };
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        if (!ready.done) controller.enqueue(encoder.encode(eventOf(ready.value)));
        heartbeat = setInterval(() => controller.enqueue(encoder.encode(': heartbeat\n\n')), heartbeatMs);
      },
      async pull(controller) {
        let next: IteratorResult<StreamedMessage>;
        try {
          next = await messages.next();
        } catch (error) {
          // The store failed mid-stream: the stream ends, and the caller resumes from its last id.
          options.onServerError(error, 503, c);
          next = { done: true, value: undefined };
        }
        if (next.done) {
          finish();
          controller.close();
        } else controller.enqueue(encoder.encode(eventOf(next.value)));
      },
      cancel() {
        finish();
      },
    });
    return c.body(body, 200, SSE_HEADERS);
  });
}
