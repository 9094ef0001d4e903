import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TenantSummary } from '../../../src/contract/admin.js';
import { organizationToAccount } from '../../../src/db/schema.js';
import { STORE_KINDS, type StoreKind, trpcPath, unique, useHarness } from '../../support/harness.js';

interface Page {
  tenants: TenantSummary[];
  next_cursor: string | null;
}

/** Byte order (UTF-8): how PostgreSQL's "C" collation, and so the listing, orders ids. */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe.each(STORE_KINDS)('GET /admin/tenants on %s', (kind: StoreKind) => {
  const h = useHarness({ store: kind });

  const page = async (query: Record<string, string>) => {
    const res = await h.asAdmin(`/admin/tenants?${new URLSearchParams(query)}`);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as Page;
  };
  const idsOf = (answer: Page) => answer.tenants.map((tenant) => tenant.tenant_id);

  /** Every tenant the listing gives for `query`, page by page (`limit` a page), with the page sizes. */
  async function walk(query: Record<string, string>, limit: number) {
    const ids: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const answer: Page = await page({ ...query, limit: String(limit), ...(cursor ? { cursor } : {}) });
      ids.push(...idsOf(answer));
      sizes.push(answer.tenants.length);
      cursor = answer.next_cursor;
    } while (cursor && sizes.length < 1_000);
    return { ids, sizes };
  }

  /** Tenants of their own customers (their own ids), on the free plan. */
  const tenants = async (ids: readonly string[], customerId?: string) => {
    for (const id of ids) {
      await h.store.tenants.putTenant(
        id,
        { plan_id: 'free', ...(customerId ? { customer_id: customerId } : {}) },
        'test',
      );
    }
  };

  it('finds tenants by a prefix of their id, in id order, with plan, overrides and effective limits', async () => {
    const prefix = unique('lt');
    await h.store.tenants.putTenant(
      `${prefix}-b`,
      { plan_id: 'growth', customer_id: `${prefix}-cus`, overrides: { self_hosted_workers: 3 } },
      'test',
    );
    await tenants([`${prefix}-c`, `${prefix}-a`]);
    await tenants([unique('elsewhere')]);
    expect(await page({ query: prefix })).toEqual({
      tenants: [
        {
          tenant_id: `${prefix}-a`,
          customer_id: `${prefix}-a`,
          plan_id: 'free',
          overrides: {},
          limits: { deployments: 1, self_hosted_workers: 5, plan_type: 'free' },
        },
        {
          tenant_id: `${prefix}-b`,
          customer_id: `${prefix}-cus`,
          plan_id: 'growth',
          overrides: { self_hosted_workers: 3 },
          limits: { deployments: 5, self_hosted_workers: 3, plan_type: 'growth' },
        },
        {
          tenant_id: `${prefix}-c`,
          customer_id: `${prefix}-c`,
          plan_id: 'free',
          overrides: {},
          limits: { deployments: 1, self_hosted_workers: 5, plan_type: 'free' },
        },
      ],
      next_cursor: null,
    });
  });

  it('finds tenants by a prefix of their customer id, each once when both ids match', async () => {
    const customer = unique('cus');
    const [one, two] = [unique('org'), unique('org')];
    await tenants([one, two], customer);
    // Matched by its own id and by its customer's: listed once.
    const both = `${customer}-own`;
    await tenants([both], `${customer}-shared`);
    expect(idsOf(await page({ query: customer }))).toEqual([both, one, two].sort(byteOrder));
    expect(idsOf(await page({ query: `${customer}-sh` }))).toEqual([both]);
  });

  it('matches case-sensitively, and takes %, _ and \\ literally', async () => {
    const prefix = unique('lit');
    const ids = ['a', 'A', '%a', '_b', 'xa', 'xb', '\\c', 'x\\c'].map((suffix) => `${prefix}${suffix}`);
    await tenants(ids);
    const matching = async (query: string) => idsOf(await page({ query: `${prefix}${query}` }));
    expect(await matching('a')).toEqual([`${prefix}a`]);
    expect(await matching('A')).toEqual([`${prefix}A`]);
    expect(await matching('%')).toEqual([`${prefix}%a`]);
    expect(await matching('_')).toEqual([`${prefix}_b`]);
    expect(await matching('\\')).toEqual([`${prefix}\\c`]);
    expect(await matching('%a')).toEqual([`${prefix}%a`]);
    expect(await matching('x')).toEqual([`${prefix}x\\c`, `${prefix}xa`, `${prefix}xb`]);
    expect(await matching('y')).toEqual([]);
  });

  it('finds ids past the Basic Multilingual Plane, and after the last code point', async () => {
    const prefix = unique('uni');
    const ids = ['é', '😀', '😀x', '\u{10FFFF}', '\u{10FFFF}\u{10FFFF}z', '\u{FFFF}'].map(
      (s) => `${prefix}${s}`,
    );
    await tenants(ids);
    expect(idsOf(await page({ query: prefix }))).toEqual([...ids].sort(byteOrder));
    expect(idsOf(await page({ query: `${prefix}😀` }))).toEqual([`${prefix}😀`, `${prefix}😀x`]);
    expect(idsOf(await page({ query: `${prefix}\u{10FFFF}` }))).toEqual([
      `${prefix}\u{10FFFF}`,
      `${prefix}\u{10FFFF}\u{10FFFF}z`,
    ]);
  });

  it("lists one customer's organizations with customer_id, alone or with a query", async () => {
    const customer = unique('cus');
    const ids = [unique('shared'), unique('shared'), unique('other')].sort(byteOrder);
    await tenants(ids, customer);
    await tenants([unique('shared')]);
    expect(idsOf(await page({ customer_id: customer }))).toEqual(ids);
    expect(idsOf(await page({ customer_id: customer, query: 'shared-' }))).toEqual(
      ids.filter((id) => id.startsWith('shared-')),
    );
    expect(await page({ customer_id: unique('nobody') })).toEqual({ tenants: [], next_cursor: null });
  });

  it('pages by next_cursor: every tenant once, in id order, null after the last', async () => {
    const prefix = unique('pg');
    const ids = Array.from({ length: 7 }, (_, i) => `${prefix}-${i}`);
    await tenants(ids);
    expect(await walk({ query: prefix }, 3)).toEqual({ ids, sizes: [3, 3, 1] });
    // A last page that is full says so by a null cursor, not an empty page after it.
    expect(await walk({ query: prefix }, 7)).toEqual({ ids, sizes: [7] });
    expect(await walk({ query: prefix }, 500)).toEqual({ ids, sizes: [7] });
  });

  it('walks the whole listing without a query: every tenant of the database once, in byte order', async () => {
    await tenants([unique('all'), unique('ALL')]);
    const stored = await h.db
      .select({ id: organizationToAccount.organizationId })
      .from(organizationToAccount);
    const { ids } = await walk({}, 500);
    expect(ids).toEqual(stored.map((row) => row.id).sort(byteOrder));
    expect(idsOf(await page({}))).toEqual(ids.slice(0, 50));
  });

  it('pages by prefix through any ids and page sizes: each matching tenant once, in byte order (property)', async () => {
    // Any characters a tenant id may hold (no control characters, no space or tab at its end).
    const suffix = fc
      .string({ unit: 'grapheme', minLength: 0, maxLength: 4 })
      .filter((s) => !/\p{Cc}|[ \t]$/u.test(s));
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(suffix, { minLength: 0, maxLength: 7 }),
        fc.uniqueArray(suffix, { minLength: 0, maxLength: 3 }),
        fc.integer({ min: 1, max: 4 }),
        async (ownSuffixes, customerSuffixes, limit) => {
          const prefix = unique('prop');
          // Matched by their own id; and others matched only by their customer's.
          const own = ownSuffixes.map((s) => `${prefix}${s}`);
          await tenants(own);
          const byCustomer = customerSuffixes.map(() => unique('via'));
          await tenants(byCustomer, `${prefix}-customer`);
          await tenants([`x${prefix}`]);
          const { ids, sizes } = await walk({ query: prefix }, limit);
          expect(ids).toEqual([...new Set([...own, ...byCustomer])].sort(byteOrder));
          expect(sizes.slice(0, -1).every((size) => size === limit)).toBe(true);
        },
      ),
      { numRuns: kind === 'pglite' ? 12 : 20 },
    );
  });

  it('pages over tRPC with the same cursor', async () => {
    const prefix = unique('trpc');
    const ids = [`${prefix}-1`, `${prefix}-2`, `${prefix}-3`];
    await tenants(ids);
    const query = async (input: Record<string, unknown>) => {
      const res = await h.asAdmin(trpcPath('admin.listTenants', input));
      return ((await res.json()) as { result: { data: Page } }).result.data;
    };
    const first = await query({ query: prefix, limit: 2 });
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await query({ query: prefix, limit: 2, cursor: first.next_cursor });
    expect([...idsOf(first), ...idsOf(second)]).toEqual(ids);
    expect(second.next_cursor).toBeNull();
  });
});
