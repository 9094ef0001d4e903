import { z } from 'zod';
import { TenantId } from './limits.js';
import { Resource, Timestamp } from './usage.js';

/** A number of events in an hour (or hours): never negative. */
const EventCount = z.int().min(0);

/** The hours read back from now, the current one included (at most 30 days). */
export const ActivityHours = (defaultHours: number) =>
  z.coerce
    .number()
    .int()
    .min(1)
    .max(720)
    .default(defaultHours)
    .meta({ description: `Hours back from now, the current one included: 1–720 (default ${defaultHours}).` });

export const ActivityQuery = z.object({
  tenant_id: TenantId.meta({
    description: 'One tenant’s activity (1–255 characters); left out: every tenant’s, summed.',
    example: 'org-123',
  }).optional(),
  hours: ActivityHours(168),
});

export const ActivityBucket = z
  .object({
    hour: Timestamp.meta({ description: 'The start of the UTC hour (RFC 3339).' }),
    resource: Resource,
    grants: EventCount.meta({ description: 'Reservations granted (a replay of one is not counted again).' }),
    releases: EventCount.meta({ description: 'Reservations released by their holder.' }),
    refusals: EventCount.meta({ description: 'Reservations refused at the limit.' }),
    expiries: EventCount.meta({ description: 'Leases that ran out unrenewed and were released.' }),
  })
  .meta({
    id: 'ActivityBucket',
    example: {
      hour: '2026-12-02T11:00:00.000Z',
      resource: 'deployments',
      grants: 12,
      releases: 9,
      refusals: 2,
      expiries: 1,
    },
  });
export type ActivityBucket = z.infer<typeof ActivityBucket>;

export const Activity = z
  .object({
    from: Timestamp.meta({ description: 'The start of the first hour read (RFC 3339, UTC).' }),
    to: Timestamp.meta({ description: 'The end of the current hour (RFC 3339, UTC).' }),
    buckets: z.array(ActivityBucket).meta({
      description: 'The hours with any activity, per resource: oldest first, then by resource.',
    }),
  })
  .meta({ id: 'Activity' });
export type Activity = z.infer<typeof Activity>;

export const RefusalsQuery = z.object({
  hours: ActivityHours(24),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(20)
    .meta({ description: 'At most this many tenant × resources: 1–100 (default 20).' }),
});

export const RefusalSummary = z
  .object({
    tenant_id: z.string(),
    resource: Resource,
    refusals: z.int().min(1).meta({ description: 'Reservations refused at the limit in those hours.' }),
    last_hour: Timestamp.meta({ description: 'The start of the latest UTC hour with a refusal (RFC 3339).' }),
  })
  .meta({
    id: 'RefusalSummary',
    example: {
      tenant_id: 'org-123',
      resource: 'deployments',
      refusals: 14,
      last_hour: '2026-12-02T11:00:00.000Z',
    },
  });
export type RefusalSummary = z.infer<typeof RefusalSummary>;
