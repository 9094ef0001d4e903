/**
 * A network between a billing client and the in-process app for the change-stream tests: every
 * request goes to `h.app.request`, is recorded, and can be refused (`down`); open event streams
 * can be cut as a dropped connection is, and a stream's request rewritten on its way (a resume
 * point the service no longer has).
 */
import { type BillingClientOptions, createBillingClient } from '../../packages/client/src/index.js';
import type { Harness } from '../support/harness.js';

export interface StreamRequest {
  path: string;
  /** The tRPC input the request carried (`?input=`), parsed. */
  input: Record<string, unknown> | undefined;
  authorization: string | null;
}

export function streamNetwork(h: Harness) {
  const requests: StreamRequest[] = [];
  const open = new Set<() => void>();
  let down = false;
  let rewrite: ((input: Record<string, unknown>) => Record<string, unknown>) | undefined;

  const fetch: typeof globalThis.fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const raw = url.searchParams.get('input');
    let parsed = raw === null ? undefined : (JSON.parse(raw) as Record<string, unknown>);
    const subscription = url.pathname.endsWith('/billing.limitsChanges');
    if (subscription && parsed && rewrite) {
      parsed = rewrite(parsed);
      rewrite = undefined;
      url.searchParams.set('input', JSON.stringify(parsed));
    }
    const headers = new Headers(init?.headers);
    requests.push({ path: url.pathname, input: parsed, authorization: headers.get('authorization') });
    if (down) throw new TypeError('fetch failed');
    const response = await h.app.request(`${url.pathname}${url.search}`, init);
    const body = response.body;
    if (!subscription || !body) return response;
    // The body handed on can be cut: an error mid-stream, as a reset connection gives.
    const reader = body.getReader();
    let cut: () => void = () => {};
    const cuttable = new ReadableStream<Uint8Array>({
      start(controller) {
        cut = () => {
          open.delete(cut);
          controller.error(new TypeError('terminated: connection reset'));
          void reader.cancel().catch(() => {});
        };
        open.add(cut);
      },
      async pull(controller) {
        const read = await reader.read().catch(() => ({ done: true as const, value: undefined }));
        if (read.done) {
          open.delete(cut);
          controller.close();
        } else controller.enqueue(read.value);
      },
      cancel(reason) {
        open.delete(cut);
        return reader.cancel(reason);
      },
    });
    return new Response(cuttable, { status: response.status, headers: response.headers });
  };

  return {
    fetch,
    requests,
    /** Requests to one tRPC procedure (`billing.limits`, `billing.limitsChanges`). */
    callsTo: (procedure: string) => requests.filter((request) => request.path.endsWith(`/${procedure}`)),
    /** Every request fails before it reaches the service while `true`. */
    setDown(value: boolean) {
      down = value;
    },
    /** Cuts every open event stream, as a dropped connection. */
    cutStreams() {
      for (const cut of [...open]) cut();
    },
    /** Event streams open now. */
    get openStreams() {
      return open.size;
    },
    /** Rewrites the next subscription request's input (e.g. a resume point the service never had). */
    rewriteNextSubscription(change: (input: Record<string, unknown>) => Record<string, unknown>) {
      rewrite = change;
    },
  };
}

/** A client over `h` through a `streamNetwork` the test controls; reconnects without waiting long. */
export function clientOver(h: Harness, options: Partial<BillingClientOptions> = {}) {
  const network = streamNetwork(h);
  const client = createBillingClient({
    url: 'http://billing.test',
    token: () => h.workerToken(),
    fetch: network.fetch,
    retry: { initialDelayMs: 1, maxDelayMs: 20 },
    ...options,
  });
  return { client, network };
}
