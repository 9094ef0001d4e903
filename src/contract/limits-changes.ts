import { z } from 'zod';
import { TenantId } from './limits.js';
import { EventSequence, LimitsChangedData } from './outbound-webhooks.js';

/** An event id as the stream sends it: the event's `sequence`, in decimal. */
const EVENT_ID = /^(0|[1-9][0-9]{0,14})$/;

/** What a subscriber to the change stream asks for. */
export const LimitsChangesInput = z.object({
  tenantId: TenantId.optional().meta({
    description: "Only this tenant's changes; left out: every tenant's.",
  }),
  lastEventId: z
    .string()
    .regex(EVENT_ID)
    .nullish()
    .meta({
      description:
        'Resume after this event id (a sequence the stream sent): the changes since are replayed first ' +
        '(retained for `BILLING_EVENT_RETENTION_DAYS`).',
      example: '42',
    }),
});
export type LimitsChangesInput = z.input<typeof LimitsChangesInput>;

/** Where the REST stream reads each input field: `Last-Event-ID` is what an `EventSource` resends. */
export const LIMITS_CHANGES_HEADERS = { tenantId: 'tenant-id', lastEventId: 'last-event-id' } as const;

/** The first message of every connection: where the stream continues from, and whether it resumed. */
export const LimitsStreamReady = z
  .object({
    sequence: EventSequence,
    resumed: z.boolean().meta({
      description:
        'true: the stream continues right after the `Last-Event-ID` asked for (what was missed follows). ' +
        'false: a new stream, or one whose resume point is no longer retained: changes may have been ' +
        'missed, so refetch the limits you hold.',
    }),
  })
  .meta({ id: 'LimitsStreamReady', example: { sequence: 42, resumed: true } });
export type LimitsStreamReady = z.infer<typeof LimitsStreamReady>;

/** One message of the change stream, its event name (`type`) and data, as webhooks carry theirs. */
export const LimitsStreamMessage = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('ready'), data: LimitsStreamReady }),
    z.object({ type: z.literal('limits.changed'), data: LimitsChangedData }),
  ])
  .meta({ id: 'LimitsStreamMessage' });
export type LimitsStreamMessage = z.infer<typeof LimitsStreamMessage>;

/** The REST stream's body as it travels: one SSE event per message, and heartbeat comments. */
export const LimitsChangesEventStream = z.string().meta({
  description:
    "Server-Sent Events: `id: <sequence>`, `event: <type>`, `data: <the message's data as JSON>` per message " +
    '(see `LimitsStreamMessage`), and a `: heartbeat` comment every 15 s while nothing changes.',
  example:
    'id: 41\nevent: ready\ndata: {"sequence":41,"resumed":true}\n\n' +
    'id: 42\nevent: limits.changed\ndata: {"tenant_id":"org-456","customer_id":"org-456","sequence":42,' +
    '"before":{"deployments":5,"self_hosted_workers":null,"plan_type":"growth"},' +
    '"after":{"deployments":10,"self_hosted_workers":null,"plan_type":"growth"},"cause":"admin"}\n\n' +
    ': heartbeat\n\n',
});
