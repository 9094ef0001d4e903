/**
 * The change stream on two replicas of one PostgreSQL database: a subscriber on one replica sees
 * every change committed through either, once each and in sequence order, while both write at
 * once; a subscriber resuming on the other replica gets the same changes after its id; and a
 * writer of `limits.changed` waits for an earlier one to commit, so a later sequence never commits
 * first (which would let a stream skip the earlier one). PostgreSQL only (PGlite has a single
 * client): skipped unless TEST_DATABASE_URL is set.
 */
import { and, asc, eq, gt } from 'drizzle-orm';
import { describe, expect, it, onTestFinished } from 'vitest';
import { recordEvents } from '../../src/db/outbox.js';
import { billingEvent } from '../../src/db/schema.js';
import { createHarness, type Harness, STORE_KINDS, unique } from '../support/harness.js';
import { readSse } from '../support/sse.js';

const put = (body: unknown): RequestInit => ({
  method: 'PUT',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

const STREAMS = { heartbeatMs: 60_000, pollMs: 5_000 };

async function subscribe(app: Harness, headers: Record<string, string> = {}) {
  const res = await app.asWorker('/billing/limits/changes', { headers });
  expect(res.status).toBe(200);
  const stream = readSse(res);
  onTestFinished(() => stream.close().catch(() => {}));
  return stream;
}

type Change = { id: string; data: { tenant_id: string; sequence: number; after: { deployments: number } } };

/** The next `count` changes on `stream` (after its `ready`, read separately). */
async function changes(stream: ReturnType<typeof readSse>, count: number): Promise<Change[]> {
  const received: Change[] = [];
  while (received.length < count) {
    const message = await stream.nextMessage(15_000);
    expect(message.event).toBe('limits.changed');
    received.push(message as Change);
  }
  return received;
}

describe.runIf(STORE_KINDS.includes('postgres'))(
  'the change stream on two replicas of one PostgreSQL database',
  { timeout: 60_000 },
  () => {
    it('streams every change committed through either replica, once, in sequence order; a resume on the other replica continues it', async () => {
      const h = await createHarness({ store: 'postgres' });
      const a = h.withApp({ dependencies: { changeStreams: STREAMS } });
      const b = h.withApp({
        dependencies: { store: await h.database.openReplica(), changeStreams: STREAMS },
      });
      const stream = await subscribe(b);
      const ready = await stream.nextMessage();
      expect(ready.data).toMatchObject({ resumed: false });

      // 10 tenants created, then 3 rounds of overrides: 40 changes, written at once through both replicas.
      const tenants = Array.from({ length: 10 }, () => unique('org'));
      const replicaFor = (i: number) => (i % 2 === 0 ? a : b);
      await Promise.all(
        tenants.map(async (tenant, i) => {
          expect(
            (await replicaFor(i).asAdmin(`/admin/tenants/${tenant}`, put({ plan_id: 'growth' }))).status,
          ).toBe(200);
        }),
      );
      for (let round = 0; round < 3; round++) {
        await Promise.all(
          tenants.map(async (tenant, i) => {
            const res = await replicaFor(i + round).asAdmin(
              `/admin/tenants/${tenant}`,
              put({ overrides: { deployments: 20 + round } }),
            );
            expect(res.status).toBe(200);
          }),
        );
      }
      const received = await changes(stream, 40);
      const committed = await h.db
        .select({ sequence: billingEvent.sequence })
        .from(billingEvent)
        .where(and(eq(billingEvent.type, 'limits.changed'), gt(billingEvent.sequence, Number(ready.id))))
        .orderBy(asc(billingEvent.sequence));
      // Exactly the committed changes, in their order: none skipped, none twice.
      expect(received.map((change) => change.data.sequence)).toEqual(committed.map((row) => row.sequence));
      expect(received.map((change) => Number(change.id))).toEqual(committed.map((row) => row.sequence));
      for (const tenant of tenants) {
        const own = received.filter((change) => change.data.tenant_id === tenant);
        expect(own.map((change) => change.data.after.deployments)).toEqual([5, 20, 21, 22]);
      }

      // Resumed on the other replica from the 25th change: the 15 after it, the same ones.
      const from = received[24]?.id ?? '';
      const resumed = await subscribe(a, { 'last-event-id': from });
      expect((await resumed.nextMessage()).data).toEqual({ sequence: Number(from), resumed: true });
      expect(await changes(resumed, 15)).toEqual(received.slice(25));
    });

    it('makes a writer of limits.changed wait for an earlier one to commit: a later sequence never commits first', async () => {
      const h = await createHarness({ store: 'postgres' });
      const a = h.withApp({ dependencies: { changeStreams: STREAMS } });
      const tenant = await h.tenant('free');
      const stream = await subscribe(a);
      await stream.nextMessage();

      // A transaction that has written its change (and so drawn its sequence) but not committed yet.
      let commit = () => {};
      const held = new Promise<void>((resolve) => {
        commit = resolve;
      });
      let written = () => {};
      const hasWritten = new Promise<void>((resolve) => {
        written = resolve;
      });
      const slow = h.db.transaction(async (tx) => {
        await recordEvents(tx, [
          {
            type: 'limits.changed',
            tenantId: 'org-slow',
            data: {
              tenant_id: 'org-slow',
              customer_id: 'org-slow',
              before: null,
              after: { deployments: 1, self_hosted_workers: 1, plan_type: 'free' },
              cause: 'admin',
            },
          },
        ]);
        written();
        await held;
      });
      await hasWritten;
      // A later write waits for it instead of committing a higher sequence before it.
      let putDone = false;
      const later = a
        .asAdmin(`/admin/tenants/${tenant}`, put({ overrides: { deployments: 4 } }))
        .then((res) => {
          putDone = true;
          return res;
        });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(putDone).toBe(false);
      commit();
      await slow;
      expect((await later).status).toBe(200);

      const [first, second] = await changes(stream, 2);
      expect(first?.data.tenant_id).toBe('org-slow');
      expect(second?.data.tenant_id).toBe(tenant);
      expect(Number(second?.id)).toBeGreaterThan(Number(first?.id));
    });
  },
);
