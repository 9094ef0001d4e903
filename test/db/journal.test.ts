import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { announce, changeOf } from '../../src/db/journal.js';
import type { LimitsChange } from '../../src/domain/limits/changes.js';
import { eventually } from '../support/eventually.js';
import { openTestDatabase, STORE_KINDS, type TestDatabase } from '../support/harness.js';

describe.each(STORE_KINDS)('change notifications (%s)', (kind) => {
  let database: TestDatabase;
  const heard: LimitsChange[] = [];
  beforeAll(async () => {
    database = await openTestDatabase(kind);
    database.store.subscribe((change) => heard.push(change));
  });
  afterAll(() => database?.close());

  /** Announces `change` in a transaction of its own; resolves with what the subscribers heard. */
  async function heardOf(change: LimitsChange): Promise<LimitsChange> {
    const before = heard.length;
    await database.db.transaction((tx) => announce(tx, change));
    await eventually(() => heard.length > before);
    expect(heard).toHaveLength(before + 1);
    return heard[before] as LimitsChange;
  }

  it('names the tenants whose answers changed', async () => {
    expect(await heardOf({ tenants: ['org-1', 'org-ü'] })).toEqual({ tenants: ['org-1', 'org-ü'] });
  });

  it('says "everything" when the tenant list would not fit a NOTIFY payload (8,000 bytes)', async () => {
    const tenants = Array.from({ length: 40 }, (_, i) => `${String(i).padStart(3, '0')}-${'t'.repeat(200)}`);
    expect(JSON.stringify({ tenants }).length).toBeGreaterThan(8_000);
    expect(await heardOf({ tenants })).toEqual({ all: true });
    // The largest list that fits is still sent as a list.
    const fits = tenants.slice(0, 37);
    expect(JSON.stringify({ tenants: fits }).length).toBeLessThanOrEqual(7_900);
    expect(await heardOf({ tenants: fits })).toEqual({ tenants: fits });
    // 7,900 characters exactly is the limit, and still a list.
    const last = `${'x'.repeat(7_900 - JSON.stringify({ tenants: [...fits, ''] }).length)}`;
    const atTheLimit = [...fits, last];
    expect(JSON.stringify({ tenants: atTheLimit })).toHaveLength(7_900);
    expect(await heardOf({ tenants: atTheLimit })).toEqual({ tenants: atTheLimit });
  });

  it('says nothing when the transaction rolls back', async () => {
    const before = heard.length;
    await expect(
      database.db.transaction(async (tx) => {
        await announce(tx, { tenants: ['rolled-back'] });
        await tx.execute(sql`select 1/0`);
      }),
    ).rejects.toThrow();
    // A change committed after it arrives alone: the rolled-back one was never sent.
    expect(await heardOf({ tenants: ['after'] })).toEqual({ tenants: ['after'] });
    expect(heard.slice(before)).toEqual([{ tenants: ['after'] }]);
  });
});

describe('a notification read back', () => {
  it.each([
    ['not JSON', '{"tenants":'],
    ['a list of something else', '[1,2]'],
    ['no tenants', '{"plans":["free"]}'],
    ['tenants not a list', '{"tenants":"org-1"}'],
    ['tenants an object', '{"tenants":{"0":"org-1"}}'],
    ['null', 'null'],
    ['a number', '7'],
    ['a string', '"org-1"'],
  ])('is "everything" when it is unreadable: %s', (_, payload) => {
    expect(changeOf(payload)).toEqual({ all: true });
  });

  it('keeps only the string ids of a list', () => {
    expect(changeOf('{"tenants":["org-1",2,null,"org-2"]}')).toEqual({ tenants: ['org-1', 'org-2'] });
  });
});
