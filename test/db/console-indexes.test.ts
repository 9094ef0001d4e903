/**
 * The listings' indexes (migrations 0012 and 0013), held to the plans they are there for: a
 * prefix of tenant or customer ids, a subject's audit trail, a tenant's reservations and an
 * endpoint's deliveries newest first, each served by its index on PGlite and PostgreSQL. Sequential scans and sorts are turned off (the tables
 * are small here): a plan that still scans the table or sorts means the index cannot serve it.
 */
import { type SQL, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, STORE_KINDS, type StoreKind, type TestDatabase } from '../support/harness.js';

describe.each(STORE_KINDS)('the console indexes on %s', (kind: StoreKind) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openTestDatabase(kind);
  });
  afterAll(() => database.close());

  /** The plan of `query`, one line of text per row, sequential scans and sorts discouraged. */
  async function planOf(query: SQL): Promise<string> {
    return database.db.transaction(async (tx) => {
      await tx.execute(sql`set local enable_seqscan = off`);
      await tx.execute(sql`set local enable_sort = off`);
      await tx.execute(sql`set local plan_cache_mode = force_generic_plan`);
      // Rows as an array (postgres.js) or under `rows` (PGlite), as `rowsOf` reads them.
      const result = (await tx.execute(sql`explain ${query}`)) as unknown as
        | Record<string, string>[]
        | { rows: Record<string, string>[] };
      const rows = Array.isArray(result) ? result : result.rows;
      return rows.map((row) => row['QUERY PLAN']).join('\n');
    });
  }

  it.each([
    ['organization_to_account_organization_id_c_idx', sql`organization_to_account`, sql`organization_id`],
    ['organization_to_account_customer_id_c_idx', sql`organization_to_account`, sql`customer_id`],
    ['customer_id_c_idx', sql`customer`, sql`id`],
  ])(
    '%s serves a prefix: LIKE with the prefix spelled out, or a C range with parameters',
    async (index, table, column) => {
      const like = await planOf(sql`select * from ${table} where ${column} like 'org-ab%'`);
      expect(like).toContain(index);
      expect(like).not.toMatch(/Seq Scan/);
      // Parameters (a generic plan): the range written out, in the index's collation, in its order.
      const range = await planOf(
        sql`select * from ${table} where ${column} collate "C" >= ${'org-ab'} and ${column} collate "C" < ${'org-ac'}
          order by ${column} collate "C" limit 10`,
      );
      expect(range).toContain(index);
      expect(range).not.toMatch(/Seq Scan|Sort/);
    },
  );

  it("audit_log_subject_id_at_idx serves a subject's trail newest first, without its type, and a page after a position", async () => {
    const first = await planOf(
      sql`select * from audit_log where subject_id = ${'org-1'} order by at desc, id desc limit 20`,
    );
    expect(first).toContain('audit_log_subject_id_at_idx');
    expect(first).not.toMatch(/Seq Scan|Sort/);
    const next = await planOf(
      sql`select * from audit_log where subject_id = ${'org-1'} and (at, id) < (${'2026-12-01T00:00:00Z'}::timestamptz, ${5}::bigint)
          order by at desc, id desc limit 20`,
    );
    expect(next).toContain('audit_log_subject_id_at_idx');
    expect(next).not.toMatch(/Seq Scan|Sort/);
  });

  it.each([
    ['reservation_tenant_created_idx', sql`reservation`, sql`organization_id`, sql`${'org-1'}`],
    [
      'webhook_delivery_endpoint_created_idx',
      sql`webhook_delivery`,
      sql`endpoint_id`,
      sql`${'8a3c9d52-7f0e-4b1a-9c6d-2e5f8a1b3c4d'}::uuid`,
    ],
  ])(
    '%s serves its listing newest first, and a page after a position, without sorting',
    async (index, table, owner, id) => {
      const first = await planOf(
        sql`select * from ${table} where ${owner} = ${id} order by created_at desc, id desc limit 20`,
      );
      expect(first).toContain(index);
      expect(first).not.toMatch(/Seq Scan|Sort/);
      const next = await planOf(
        sql`select * from ${table} where ${owner} = ${id}
            and (created_at, id) < (${'2026-12-01T00:00:00Z'}::timestamptz, ${'00000000-0000-0000-0000-000000000000'}::uuid)
            order by created_at desc, id desc limit 20`,
      );
      expect(next).toContain(index);
      expect(next).not.toMatch(/Seq Scan|Sort/);
    },
  );

  it('usage_activity_hourly_hour_idx serves every tenant since an hour', async () => {
    const plan = await planOf(
      sql`select * from usage_activity_hourly where hour >= ${'2026-12-01T00:00:00Z'}::timestamptz`,
    );
    expect(plan).toContain('usage_activity_hourly_hour_idx');
  });
});
