import { desc, eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { webhookEvent } from '../../../src/db/schema.js';
import {
  type Harness,
  STORE_KINDS,
  type StoreKind,
  trpcPath,
  unique,
  useHarness,
} from '../../support/harness.js';

interface Page {
  events: { event_id: string; received_at: string }[];
  next_cursor: string | null;
}

describe.each(STORE_KINDS)('GET /admin/webhook-events, page by page, on %s', (kind: StoreKind) => {
  const h = useHarness({ store: kind });

  const list = (target: Harness, query: Record<string, string>) =>
    target.asAdmin(`/admin/webhook-events?${new URLSearchParams(query)}`);
  const page = async (query: Record<string, string>) => {
    const res = await list(h, query);
    expect(res.status).toBe(200);
    return (await res.json()) as Page;
  };

  /**
   * `count` events of one customer received in groups of three at the same microsecond, the groups
   * a microsecond apart: pages must neither lose nor repeat an event where timestamps tie, nor
   * where they differ by less than the millisecond a JavaScript Date holds.
   */
  async function receivedEvents(count: number) {
    const customer = unique('cus');
    await h.db.execute(sql`
      insert into webhook_event (id, type, created_at, received_at, customer_id, outcome, raw_body)
      select ${customer}::text || '-evt-' || lpad(g::text, 5, '0'), 'invoice.issued', now(),
             timestamptz '2026-11-24 12:00:00+00' + (g / 3) * interval '1 microsecond',
             ${customer}::text, 'ignored', '{}'
      from generate_series(1, ${count}::int) as g`);
    const newestFirst = await h.db
      .select({ id: webhookEvent.id })
      .from(webhookEvent)
      .where(eq(webhookEvent.customerId, customer))
      .orderBy(desc(webhookEvent.receivedAt), desc(webhookEvent.id));
    return { customer, ids: newestFirst.map((row) => row.id) };
  }

  it('pages past 500 events with next_cursor: every event once, newest first, null after the last', async () => {
    const { customer, ids } = await receivedEvents(1_203);
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const query: Record<string, string> = { customer_id: customer, limit: '500' };
      if (cursor) query['cursor'] = cursor;
      const { events, next_cursor } = await page(query);
      sizes.push(events.length);
      seen.push(...events.map((event) => event.event_id));
      cursor = next_cursor;
    } while (cursor && sizes.length < 10);
    expect(sizes).toEqual([500, 500, 203]);
    expect(seen).toEqual(ids);
  });

  it('pages with small pages across tied timestamps', async () => {
    const { customer, ids } = await receivedEvents(10);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const query: Record<string, string> = { customer_id: customer, limit: '2' };
      if (cursor) query['cursor'] = cursor;
      const { events, next_cursor } = await page(query);
      seen.push(...events.map((event) => event.event_id));
      cursor = next_cursor;
      if (!cursor) break;
    }
    expect(seen).toEqual(ids);
  });

  it('answers as before without a cursor: the newest page, and null when nothing is left', async () => {
    const { customer, ids } = await receivedEvents(3);
    const all = await page({ customer_id: customer });
    expect(all.events.map((event) => event.event_id)).toEqual(ids);
    expect(all.next_cursor).toBeNull();
    const first = await page({ customer_id: customer, limit: '3' });
    expect(first.next_cursor).toBeNull();
    const partial = await page({ customer_id: customer, limit: '2' });
    expect(partial.next_cursor).toEqual(expect.any(String));
  });

  it('pages over tRPC with the same cursor', async () => {
    const { customer, ids } = await receivedEvents(4);
    const query = (input: Record<string, unknown>) =>
      h
        .asAdmin(trpcPath('admin.listWebhookEvents', input))
        .then(async (res) => ((await res.json()) as { result: { data: Page } }).result.data);
    const first = await query({ customer_id: customer, limit: 3 });
    const second = await query({ customer_id: customer, limit: 3, cursor: first.next_cursor });
    expect([...first.events, ...second.events].map((event) => event.event_id)).toEqual(ids);
    expect(second.next_cursor).toBeNull();
  });

  const encoded = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  it.each([
    ['not base64url JSON', 'not-a-cursor!'],
    ['JSON of another shape', encoded({ page: 2 })],
    ['a position with a timestamp that is no date', encoded(['2026-13-45T99:00:00.000000Z', 'evt'])],
    ['a position on February 31', encoded(['2026-02-31T12:00:00.000000Z', 'evt'])],
    ['a position in year 0', encoded(['0000-01-01T00:00:00.000000Z', 'evt'])],
    ['a position with a NUL in the id', encoded(['2026-11-24T12:00:00.000000Z', 'evt\u0000'])],
    ['an empty cursor', ''],
    ['a cursor over 4096 characters', 'a'.repeat(4097)],
  ])('refuses a cursor that is %s with 422', async (_, cursor) => {
    const res = await list(h, { cursor });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ detail: [{ loc: ['query', 'cursor'] }] });
  });

  it('filters by outcome, page by page, and refuses an outcome that is not one', async () => {
    const customer = unique('cus');
    await h.db.execute(sql`
      insert into webhook_event (id, type, created_at, received_at, customer_id, outcome, raw_body)
      select ${customer}::text || '-evt-' || lpad(g::text, 3, '0'), 'subscription.started', now(),
             timestamptz '2026-11-24 12:00:00+00' + g * interval '1 second', ${customer}::text,
             case when g % 3 = 0 then 'applied' else 'unmapped_plan' end, '{}'
      from generate_series(1, 10) as g`);
    const applied: string[] = [];
    let cursor: string | null = null;
    do {
      const query: Record<string, string> = { customer_id: customer, outcome: 'applied', limit: '2' };
      if (cursor) query['cursor'] = cursor;
      const next: Page = await page(query);
      applied.push(...next.events.map((event) => event.event_id));
      cursor = next.next_cursor;
    } while (cursor);
    expect(applied).toEqual([`${customer}-evt-009`, `${customer}-evt-006`, `${customer}-evt-003`]);
    const unmapped = await page({ customer_id: customer, outcome: 'unmapped_plan' });
    expect(unmapped.events).toHaveLength(7);
    const res = await list(h, { outcome: 'nonsense' });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ detail: [{ loc: ['query', 'outcome'] }] });
  });
});
