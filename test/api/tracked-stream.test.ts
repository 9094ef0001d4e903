/**
 * A subscription's output schema (`trackedStream`): a stream of tracked messages, each validated on
 * its way out — what is not a stream, a message without an id and a message off its schema are
 * refused, as any other procedure's wrong answer is.
 */
import { tracked } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { trackedStream } from '../../src/api/tracked-stream.js';

const Message = z.object({ n: z.number().int() });
const schema = trackedStream(Message);

async function* streamOf(...items: unknown[]) {
  for (const item of items) yield item;
}

async function drain(stream: AsyncIterable<unknown>) {
  const seen: unknown[] = [];
  for await (const item of stream) seen.push(item);
  return seen;
}

describe('trackedStream', () => {
  it('passes each tracked message on, parsed, with its id', async () => {
    const out = schema.parse(streamOf(tracked('1', { n: 1 }), tracked('2', { n: 2, extra: true })));
    const seen = (await drain(out)) as [string, unknown][];
    expect(seen.map(([id, data]) => [id, data])).toEqual([
      ['1', { n: 1 }],
      ['2', { n: 2 }],
    ]);
  });

  it.each([
    ['null', null],
    ['a string', 'a stream'],
    ['an object that is not iterable', { next: () => undefined }],
    ['a synchronous iterable', [tracked('1', { n: 1 })]],
  ])('refuses %s as the stream', (_, value) => {
    expect(schema.safeParse(value).success).toBe(false);
  });

  it('fails the stream at a message without an id', async () => {
    const out = schema.parse(streamOf(tracked('1', { n: 1 }), { n: 2 }));
    await expect(drain(out)).rejects.toThrow(new TypeError('a subscription message without an id'));
  });

  it('fails the stream at a message its schema refuses', async () => {
    const out = schema.parse(streamOf(tracked('1', { n: 1.5 })));
    await expect(drain(out)).rejects.toThrow(z.ZodError);
  });

  it('ends the stream it reads when it is ended early', async () => {
    let ended = false;
    async function* source() {
      try {
        yield tracked('1', { n: 1 });
        yield tracked('2', { n: 2 });
      } finally {
        ended = true;
      }
    }
    const out = schema.parse(source()) as AsyncGenerator<unknown>;
    await out.next();
    await out.return(undefined);
    expect(ended).toBe(true);
  });
});
