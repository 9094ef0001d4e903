/**
 * The change stream: `GET /billing/limits/changes` (Server-Sent Events) and the tRPC subscription
 * `billing.limitsChanges` behind it — `ready` first, every committed `limits.changed` in sequence
 * order with its sequence as the event id, the tenant filter, resuming by `Last-Event-ID`
 * (replayed from the outbox, or `resumed: false` when the outbox was pruned past it), heartbeats,
 * the subscription ending with its caller, and every refusal as the REST routes word them.
 */
import { asc, eq } from 'drizzle-orm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { billingEvent, billingEventPruned } from '../../src/db/schema.js';
import type { BillingStore } from '../../src/domain/store.js';
import { eventuallyReads } from '../support/eventually.js';
import { type Harness, STORE_KINDS, trpcPath, useHarness } from '../support/harness.js';
import { parsePrometheus, sampleSum } from '../support/prometheus.js';
import { readSse } from '../support/sse.js';

const PATH = '/billing/limits/changes';

describe.each(STORE_KINDS)('the change stream on %s', (kind) => {
  const h = useHarness({ store: kind });
  let app: Harness;
  const opened: { close(): Promise<void> }[] = [];
  beforeAll(() => {
    app = h.withApp({ dependencies: { changeStreams: { heartbeatMs: 200, pollMs: 200 } } });
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((stream) => stream.close().catch(() => {})));
  });

  /** Opens the stream on `on` (this file's app unless told) with `headers`; 200 expected. */
  async function subscribe(headers: Record<string, string> = {}, on: Harness = app) {
    const res = await on.asWorker(PATH, { headers });
    expect(res.status, await peek(res)).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('connection')).toBe('close');
    const stream = readSse(res);
    opened.push(stream);
    return stream;
  }

  /** A failed answer's body (for the assertion message); a stream's is left alone. */
  async function peek(res: Response) {
    return res.status === 200 ? '' : res.clone().text();
  }

  const putTenant = (tenantId: string, body: Record<string, unknown>) =>
    app.asAdmin(`/admin/tenants/${tenantId}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  async function storedChanges(tenantId: string) {
    return h.db
      .select({ sequence: billingEvent.sequence, data: billingEvent.data })
      .from(billingEvent)
      .where(eq(billingEvent.tenantId, tenantId))
      .orderBy(asc(billingEvent.sequence));
  }

  it('starts with `ready` at the newest change, then sends each change as it commits, id = sequence', async () => {
    const tenant = await h.tenant('growth');
    const stream = await subscribe();
    const ready = await stream.nextMessage();
    const [newest] = await storedChanges(tenant);
    expect(ready).toEqual({
      id: String(ready.data && (ready.data as { sequence: number }).sequence),
      event: 'ready',
      data: { sequence: expect.any(Number), resumed: false },
    });
    expect((ready.data as { sequence: number }).sequence).toBeGreaterThanOrEqual(newest?.sequence ?? 0);

    expect((await putTenant(tenant, { overrides: { deployments: 7 } })).status).toBe(200);
    const change = await nextChangeOf(stream, tenant);
    const [, stored] = await storedChanges(tenant);
    expect(change).toEqual({
      id: String(stored?.sequence),
      event: 'limits.changed',
      data: {
        tenant_id: tenant,
        customer_id: tenant,
        sequence: stored?.sequence,
        before: { deployments: 5, self_hosted_workers: null, plan_type: 'growth' },
        after: { deployments: 7, self_hosted_workers: null, plan_type: 'growth' },
        cause: 'admin',
      },
    });
    // The data is the webhook's, key for key and in the same order.
    expect(Object.keys(change.data as object)).toEqual([
      'tenant_id',
      'customer_id',
      'sequence',
      'before',
      'after',
      'cause',
    ]);
  });

  /** The next `limits.changed` of `tenant` on `stream`, skipping other tests' tenants. */
  async function nextChangeOf(stream: ReturnType<typeof readSse>, tenant: string) {
    for (;;) {
      const message = await stream.nextMessage();
      if (
        message.event === 'limits.changed' &&
        (message.data as { tenant_id: string }).tenant_id === tenant
      ) {
        return message;
      }
    }
  }

  it('narrows to one tenant with the tenant-id header', async () => {
    const [mine, other] = [await h.tenant('free'), await h.tenant('free')];
    const stream = await subscribe({ 'tenant-id': mine });
    expect((await stream.nextMessage())?.event).toBe('ready');
    await putTenant(other, { overrides: { deployments: 2 } });
    await putTenant(mine, { overrides: { deployments: 3 } });
    const message = await stream.nextMessage();
    expect(message.event).toBe('limits.changed');
    expect(message.data).toMatchObject({ tenant_id: mine, after: { deployments: 3 } });
  });

  it('resumes after Last-Event-ID: what committed meanwhile comes first, in order, then the live changes', async () => {
    const tenant = await h.tenant('free');
    const first = await subscribe({ 'tenant-id': tenant });
    const ready = await first.nextMessage();
    await first.close();
    for (const deployments of [2, 3, 4]) await putTenant(tenant, { overrides: { deployments } });

    const resumed = await subscribe({ 'tenant-id': tenant, 'last-event-id': String(ready.id) });
    expect(await resumed.nextMessage()).toEqual({
      id: ready.id,
      event: 'ready',
      data: { sequence: Number(ready.id), resumed: true },
    });
    const replayed = [await resumed.nextMessage(), await resumed.nextMessage(), await resumed.nextMessage()];
    expect(
      replayed.map((message) => (message.data as { after: { deployments: number } }).after.deployments),
    ).toEqual([2, 3, 4]);
    const ids = replayed.map((message) => Number(message.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(ids).toEqual((await storedChanges(tenant)).slice(-3).map((row) => row.sequence));

    await putTenant(tenant, { overrides: { deployments: 5 } });
    expect((await resumed.nextMessage())?.data).toMatchObject({ after: { deployments: 5 } });
  });

  it('says `resumed: false` when the outbox was pruned past the resume point, or it lies ahead of every change', async () => {
    const tenant = await h.tenant('free');
    await putTenant(tenant, { overrides: { deployments: 9 } });
    const [, change] = await storedChanges(tenant);
    const sequence = change?.sequence ?? 0;
    await h.db
      .insert(billingEventPruned)
      .values({ type: 'limits.changed', throughSequence: sequence })
      .onConflictDoUpdate({ target: billingEventPruned.type, set: { throughSequence: sequence } });
    try {
      const pruned = await subscribe({ 'last-event-id': String(sequence - 1) });
      const ready = await pruned.nextMessage();
      expect(ready.event).toBe('ready');
      expect(ready.data).toEqual({ sequence: expect.any(Number), resumed: false });
      // Continues from the newest change: nothing before it is replayed.
      expect((ready.data as { sequence: number }).sequence).toBeGreaterThanOrEqual(sequence);

      const exact = await subscribe({ 'last-event-id': String(sequence) });
      expect((await exact.nextMessage())?.data).toEqual({ sequence, resumed: true });

      const ahead = await subscribe({ 'last-event-id': '999999999999999' });
      expect((await ahead.nextMessage())?.data).toMatchObject({ resumed: false });
    } finally {
      await h.db.delete(billingEventPruned);
    }
  });

  it('sends a comment heartbeat while nothing changes', async () => {
    const stream = await subscribe({ 'tenant-id': 'org-nobody' });
    expect((await stream.next())?.event).toBe('ready');
    expect(await stream.next(2_000)).toEqual({ comment: 'heartbeat' });
  });

  it('ends the subscription when the caller goes away (the gauge counts open streams)', async () => {
    const streams = async () =>
      sampleSum(
        parsePrometheus(await (await app.request('/metrics')).text()),
        'billing_limits_change_streams',
      );
    const before = await streams();
    const stream = await subscribe();
    await stream.nextMessage();
    expect(await streams()).toBe(before + 1);
    await stream.close();
    await eventuallyReads(streams, before);
  });

  it('is refused as the REST routes refuse: 401 with a challenge, 422 naming the header, 405', async () => {
    const anonymous = await app.request(PATH);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
    expect(await anonymous.json()).toEqual({ detail: 'Missing authorization header' });

    const badId = await app.asWorker(PATH, { headers: { 'last-event-id': 'abc' } });
    expect(badId.status).toBe(422);
    expect(await badId.json()).toEqual({
      detail: [
        {
          type: 'string_pattern_mismatch',
          loc: ['header', 'last-event-id'],
          msg: "String should match pattern '^(0|[1-9][0-9]{0,14})$'",
          input: 'abc',
          ctx: { pattern: '^(0|[1-9][0-9]{0,14})$' },
        },
      ],
    });
    const badTenant = await app.asWorker(PATH, { headers: { 'tenant-id': 'x'.repeat(256) } });
    expect(badTenant.status).toBe(422);
    expect(((await badTenant.json()) as { detail: { loc: string[] }[] }).detail[0]?.loc).toEqual([
      'header',
      'tenant-id',
    ]);

    const post = await app.asWorker(PATH, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
  });

  it('is the tRPC subscription billing.limitsChanges over SSE, resumable by lastEventId', async () => {
    const tenant = await h.tenant('free');
    const res = await app.asWorker(trpcPath('billing.limitsChanges', { tenantId: tenant }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const stream = readSse(res);
    opened.push(stream);
    const messages: { id?: string; data?: unknown }[] = [];
    const nextData = async () => {
      for (;;) {
        const event = await stream.next();
        if (!event) throw new Error('the stream ended');
        // tRPC's own frames (`connected`, `ping`) carry no id.
        if (event.id !== undefined)
          return { id: event.id, data: JSON.parse(event.data ?? 'null') as unknown };
      }
    };
    messages.push(await nextData());
    expect(messages[0]?.data).toEqual({
      type: 'ready',
      data: { sequence: Number(messages[0]?.id), resumed: false },
    });
    await putTenant(tenant, { overrides: { deployments: 11 } });
    messages.push(await nextData());
    expect(messages[1]?.data).toMatchObject({
      type: 'limits.changed',
      data: { tenant_id: tenant, after: { deployments: 11 } },
    });
    await stream.close();

    await putTenant(tenant, { overrides: { deployments: 12 } });
    const again = await app.asWorker(
      trpcPath('billing.limitsChanges', { tenantId: tenant, lastEventId: messages[1]?.id }),
    );
    const resumed = readSse(again);
    opened.push(resumed);
    const stream2 = { next: resumed.next };
    const readNext = async () => {
      for (;;) {
        const event = await stream2.next();
        if (!event) throw new Error('the stream ended');
        if (event.id !== undefined) return JSON.parse(event.data ?? 'null') as unknown;
      }
    };
    expect(await readNext()).toEqual({
      type: 'ready',
      data: { sequence: Number(messages[1]?.id), resumed: true },
    });
    expect(await readNext()).toMatchObject({ type: 'limits.changed', data: { after: { deployments: 12 } } });
  });

  /** This file's app over a store whose outbox fails `method` as an unreachable database does. */
  function appWithFailing(method: 'limitsChangesPosition' | 'limitsChangesAfter') {
    const store: BillingStore = {
      ...h.store,
      outbox: { ...h.store.outbox, [method]: () => Promise.reject(new Error('connect ECONNREFUSED')) },
    };
    return h.withApp({ dependencies: { store, changeStreams: { heartbeatMs: 200, pollMs: 200 } } });
  }

  it('answers 503 when the store cannot say where the stream starts', async () => {
    const res = await appWithFailing('limitsChangesPosition').asWorker(PATH);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ detail: 'Limits store unavailable' });
  });

  it('ends the stream when the store fails in the middle of it (the subscriber resumes by its last id)', async () => {
    const res = await appWithFailing('limitsChangesAfter').asWorker(PATH, {
      headers: { 'last-event-id': '0' },
    });
    expect(res.status).toBe(200);
    const stream = readSse(res);
    opened.push(stream);
    expect(await stream.nextMessage()).toMatchObject({ event: 'ready', data: { resumed: true } });
    await expect(stream.nextMessage()).rejects.toThrow('the stream ended');
  });

  it('answers 404 without a store, as the admin API does', async () => {
    const headerMode = h.withApp({
      dependencies: { store: undefined },
      config: { orbWebhookSecret: undefined },
    });
    const res = await headerMode.asWorker(PATH);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ detail: 'Not Found' });
  });
});
