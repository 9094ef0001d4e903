/** One Server-Sent Event as a client sees it; a comment (`: heartbeat`) has only `comment`. */
export interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

/**
 * Reads a `text/event-stream` body event by event (the fields this service sends: `id`, `event`,
 * `data`, comments). `next()` waits for the next one, at most `timeoutMs`; `close()` cancels the body.
 */
export function readSse(response: Response) {
  const body = response.body;
  if (!body) throw new Error('the response has no body');
  // Read directly (not through a TextDecoderStream): cancelling then reaches the server's stream
  // at once, even while a read waits, as a dropped connection does.
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const ready: SseEvent[] = [];
  // A read that lost its race to a timeout is kept for the next call: its chunk must not be lost.
  let pending: ReturnType<typeof reader.read> | undefined;

  function parse(block: string): SseEvent {
    const event: SseEvent = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) event.comment = line.slice(1).trim();
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const field = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') event.id = value;
      else if (field === 'event') event.event = value;
      else if (field === 'data') event.data = event.data === undefined ? value : `${event.data}\n${value}`;
    }
    return event;
  }

  async function next(timeoutMs = 5_000): Promise<SseEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const queued = ready.shift();
      if (queued) return queued;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
      });
      pending ??= reader.read();
      const read = await Promise.race([pending, timedOut]);
      clearTimeout(timer);
      if (read === 'timeout') throw new Error(`no event within ${timeoutMs} ms`);
      pending = undefined;
      if (read.done) return undefined;
      buffer += decoder.decode(read.value, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        ready.push(parse(buffer.slice(0, end)));
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
      }
    }
  }

  /** The next event that is not a comment, its data parsed as JSON; throws if the stream ends first. */
  async function nextMessage(timeoutMs = 5_000) {
    for (;;) {
      const event = await next(timeoutMs);
      if (!event) throw new Error('the stream ended');
      if (event.comment === undefined) {
        return { id: event.id, event: event.event, data: JSON.parse(event.data ?? 'null') as unknown };
      }
    }
  }

  return { next, nextMessage, close: () => reader.cancel() };
}
