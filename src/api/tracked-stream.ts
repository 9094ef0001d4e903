import { isTrackedEnvelope, type TrackedEnvelope, tracked } from '@trpc/server';
import { z } from 'zod';

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> =>
  typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

/**
 * A subscription's output schema: a stream of tracked messages (each with the id a subscriber
 * resumes from), every message validated against `message` on its way out — a subscription's
 * wire shape is checked as every other procedure's answer is.
 */
export function trackedStream<Message extends z.ZodType>(message: Message) {
  return z
    .custom<AsyncIterable<TrackedEnvelope<z.input<Message>>>>(isAsyncIterable)
    .transform(async function* (stream): AsyncGenerator<TrackedEnvelope<z.output<Message>>, void> {
      for await (const item of stream) {
        if (!isTrackedEnvelope(item)) throw new TypeError('a subscription message without an id');
        const [id, data] = item;
        yield tracked(id, (await message.parseAsync(data)) as z.output<Message>);
      }
    });
}
