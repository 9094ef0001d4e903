import type { FetchLike } from 'eventsource';

export interface StreamFetchOptions {
  /** The `fetch` the client was given (or the global one). */
  fetch: typeof fetch;
  /** The `Authorization` header's token, asked again for every connection (rotation). */
  token: () => string | Promise<string>;
  /** How long the service may take to start answering (0 = no limit). */
  timeoutMs: number;
  /** How long an open stream may stay silent before it is taken for dead (0 = never). */
  idleMs: number;
}

/**
 * The `fetch` the EventSource connects with: the worker token in `Authorization` (an EventSource
 * sends no headers of its own), `timeoutMs` for the answer to start, and a watchdog on the open
 * stream. The service sends a heartbeat every 15 s; a stream silent for `idleMs` is a connection
 * that died without closing (a peer gone, a NAT forgetting it), which would otherwise look open
 * for ever. Either failure errors the stream with a `TimeoutError`, so the EventSource reports it
 * as a lost connection.
 */
export function streamFetch({ fetch: base, token, timeoutMs, idleMs }: StreamFetchOptions): FetchLike {
  return async (url, init) => {
    const controller = new AbortController();
    const closed = init.signal as AbortSignal | undefined;
    const onClose = () => controller.abort(closed?.reason);
    if (closed?.aborted) onClose();
    closed?.addEventListener('abort', onClose, { once: true });
    const giveUp = () => controller.abort(timedOut());
    const deadline = timeoutMs > 0 ? setTimeout(giveUp, timeoutMs) : undefined;
    deadline?.unref?.();
    try {
      const value = await token();
      const response = await base(String(url), {
        ...init,
        headers: { ...init.headers, authorization: `Bearer ${value}` },
        signal: controller.signal,
      });
      clearTimeout(deadline);
      if (!response.body || idleMs === 0 || response.status !== 200) return response;
      let idle: ReturnType<typeof setTimeout> | undefined;
      controller.signal.addEventListener('abort', () => clearTimeout(idle), { once: true });
      const watched = response.body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          start(stream) {
            idle = setTimeout(() => {
              stream.error(timedOut());
              controller.abort(timedOut());
            }, idleMs);
            idle.unref?.();
          },
          transform(chunk, stream) {
            idle?.refresh();
            stream.enqueue(chunk);
          },
          flush() {
            clearTimeout(idle);
          },
        }),
        { signal: controller.signal },
      );
      return new Response(watched, { status: response.status, headers: response.headers });
    } catch (error) {
      clearTimeout(deadline);
      throw controller.signal.aborted ? (controller.signal.reason ?? error) : error;
    }
  };
}

/** The reason `AbortSignal.timeout()` gives: a `TimeoutError`. */
function timedOut(): DOMException {
  return new DOMException('The operation was aborted due to timeout', 'TimeoutError');
}
