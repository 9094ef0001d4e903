import { TRPCError, tracked } from '@trpc/server';
import { LimitsChangesInput, LimitsStreamMessage } from '../../contract/limits-changes.js';
import type { LimitsFeedMessage } from '../../domain/outbox/change-feed.js';
import { trackedStream } from '../tracked-stream.js';
import { workerProcedure } from '../trpc.js';

/** Each message with its id: the sequence a subscriber resumes after. */
async function* withIds(messages: AsyncIterable<LimitsFeedMessage>) {
  for await (const message of messages) {
    yield tracked(String(message.data.sequence), message);
  }
}

/**
 * Every tenant's limits changes as they commit, on any replica: tRPC's SSE subscription, and
 * `GET /billing/limits/changes` (`src/http/limits-changes-route.ts`), which streams the same
 * messages. Resumable: tRPC's link sends the last id back as `lastEventId` when it reconnects.
 */
export const limitsChanges = workerProcedure
  .input(LimitsChangesInput)
  .output(trackedStream(LimitsStreamMessage))
  .subscription(({ ctx, input, signal }) => {
    const feed = ctx.services.limitsChanges;
    // Without a store there is nothing to follow: as the admin API, the stream is then not there.
    if (!feed) throw new TRPCError({ code: 'NOT_FOUND', message: 'Not Found' });
    return withIds(
      feed.follow({
        tenantId: input.tenantId,
        lastEventId: input.lastEventId == null ? undefined : Number(input.lastEventId),
        // tRPC's own signal on /trpc; the REST route's (the request's) through our runner.
        signal,
      }),
    );
  });
