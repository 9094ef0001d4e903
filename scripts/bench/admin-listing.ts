/**
 * `npm run bench:admin -- [options]`: the operator console's reads with 100,000 tenants — whether
 * listing stays fast because it uses its indexes (drizzle/0012), measured rather than asserted in
 * a test. Seeds a database of its own (three plans; most tenants their own customer, every fifth
 * one of 1,000 shared customers; some overrides; a third of them using resources; two audit
 * entries each), serves the service on loopback, and calls each listing through its REST route
 * one call at a time: p50/p99 over `--calls` calls after a warm-up. Then it EXPLAINs (ANALYZE) the
 * queries one call of each ran and prints their plans' node types and the indexes they used.
 * Options:
 *
 *   --tenants <n>   tenants seeded (100000; ≥ 500)   --calls <n>   measured calls per listing (200)
 *   --pglite        embedded PGlite in memory instead of PostgreSQL (a smoke run: small --tenants)
 *   --json          JSON instead of the table        --out <file>  also write the table there
 *   --keep          keep the PostgreSQL database (to EXPLAIN more by hand); dropped otherwise
 *
 * PostgreSQL: DATABASE_URL or TEST_DATABASE_URL; the run creates `billing_admin_bench_<hex>` on
 * that server and drops it at the end. The exit code is non-zero when a call fails or answers
 * something else than its listing.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { type SQL, sql } from 'drizzle-orm';
import { createBillingApp } from '../../src/app.js';
import { signAdminToken } from '../../src/auth/admin-token.js';
import { type Database, openDatabase } from '../../src/db/database.js';
import { storeOver } from '../../src/db/store.js';
import { listen } from '../../src/http/node-server.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { percentile, wholeNumber } from './numbers.js';
import { runDatabase } from './run-database.js';

const USAGE =
  'usage: npm run bench:admin -- [--tenants n] [--calls n] [--pglite] [--json] [--out file] [--keep]';
const WARMUP_CALLS = 10;
/** Shared customers (`cus_0000` …): every fifth tenant is one's, round-robin. */
const SHARED_CUSTOMERS = 1_000;

const tenantId = (n: number) => `org-${String(n).padStart(6, '0')}`;
const encodedCursor = (key: string) => Buffer.from(JSON.stringify([key])).toString('base64url');

/** The rows of `db.execute`, whichever driver answered. */
async function rowsOf<Row>(db: Database, query: SQL): Promise<Row[]> {
  const result = (await db.execute(query)) as unknown as Row[] | { rows: Row[] };
  return Array.isArray(result) ? result : result.rows;
}

/** `tenants` tenants and what they hold, in a few set-based statements. */
async function seed(db: Database, tenants: number) {
  const n = sql`${tenants}::int`;
  const org = (g: SQL) => sql`'org-' || lpad(${g}::text, 6, '0')`;
  const shared = (g: SQL) => sql`'cus_' || lpad(((${g}) / 5 % ${SHARED_CUSTOMERS})::text, 4, '0')`;
  await db.execute(sql`
    insert into customer (id, plan_id)
    select ${org(sql`g`)}, (array['free', 'free', 'free', 'growth', 'growth', 'enterprise'])[g % 6 + 1]
    from generate_series(1, ${n}) as g where g % 5 <> 0
    union all
    select 'cus_' || lpad(k::text, 4, '0'), (array['free', 'growth', 'enterprise'])[k % 3 + 1]
    from generate_series(0, least(${SHARED_CUSTOMERS}, ${n} / 5 + 1) - 1) as k`);
  // Overrides: every tenth a deployment allowance of 10, every 97th one of 0, every 50th unlimited workers.
  await db.execute(sql`
    insert into organization_to_account
      (organization_id, customer_id, deployment_allowance, worker_unlimited)
    select ${org(sql`g`)}, case when g % 5 = 0 then ${shared(sql`g`)} else ${org(sql`g`)} end,
           case when g % 97 = 0 then 0 when g % 10 = 3 then 10 end, g % 50 = 7
    from generate_series(1, ${n}) as g`);
  // A third of them use something: up to 11 deployments and 6 workers.
  await db.execute(sql`
    insert into usage_counter (organization_id, resource, used)
    select ${org(sql`g`)}, r.resource, case r.resource when 'deployments' then g % 12 else g % 7 end
    from generate_series(1, ${n}) as g, (values ('deployments'), ('self_hosted_workers')) as r (resource)
    where g % 3 = 0`);
  // Two audit entries each, a second apart per tenant, the newest last.
  await db.execute(sql`
    insert into audit_log (at, actor, action, subject_type, subject_id, before, after)
    select now() - ((${n} - g) * interval '1 second') - (2 - w) * interval '1 millisecond', 'bench',
           'tenant.put', 'tenant', ${org(sql`g`)},
           case when w = 2 then jsonb_build_object('overrides', '{}'::jsonb) end,
           jsonb_build_object('overrides', jsonb_build_object('deployments', w))
    from generate_series(1, ${n}) as g, generate_series(1, 2) as w`);
  await db.execute(sql`analyze`);
}

interface Case {
  name: string;
  path: string;
  /** How many items the answer must hold (a check that the call did its work). */
  expect: (body: unknown) => boolean;
}

const itemsOf = (body: unknown, key: string) => (body as Record<string, unknown[]>)[key]?.length ?? -1;

function casesFor(tenants: number): Case[] {
  const one = tenantId(Math.ceil(tenants * 0.54));
  const deep = tenantId(Math.floor(tenants * 0.9));
  const page = (key: string, count: number) => (body: unknown) => itemsOf(body, key) === count;
  return [
    {
      name: 'tenants, first page (50)',
      path: '/admin/tenants',
      expect: page('tenants', Math.min(50, tenants)),
    },
    {
      name: 'tenants, a page deep by cursor (90 %)',
      path: `/admin/tenants?cursor=${encodedCursor(deep)}`,
      expect: page('tenants', Math.min(50, tenants - Math.floor(tenants * 0.9))),
    },
    {
      name: 'query: tenant prefix matching ~all',
      path: '/admin/tenants?query=org-0',
      expect: page('tenants', Math.min(50, tenants)),
    },
    {
      name: 'query: tenant prefix matching one',
      path: `/admin/tenants?query=${one}`,
      expect: page('tenants', 1),
    },
    {
      name: 'query: customer prefix (cus_00…, 100 customers)',
      path: '/admin/tenants?query=cus_00',
      expect: (body) => itemsOf(body, 'tenants') > 0,
    },
    {
      name: 'customer_id filter (one shared customer)',
      path: '/admin/tenants?customer_id=cus_0042',
      expect: (body) => itemsOf(body, 'tenants') > 0,
    },
    { name: 'audit by subject', path: `/admin/audit?subject_id=${one}`, expect: page('entries', 2) },
    { name: 'audit, newest (no subject)', path: '/admin/audit', expect: page('entries', 50) },
    { name: 'near limits (80 %, 20)', path: '/admin/near-limits', expect: page('tenants', 20) },
    {
      name: 'plans with tenant counts',
      path: '/admin/plans',
      expect: (body) => (body as unknown[]).length === 3,
    },
    {
      name: "a tenant's usage",
      path: `/admin/tenants/${one}/usage`,
      expect: (body) => itemsOf(body, 'reservations') === 0,
    },
  ];
}

interface Measured {
  name: string;
  path: string;
  p50Ms: number;
  p99Ms: number;
  /** Each query one call ran: its plan's nodes (with the index each scan used) and execution time. */
  plans: { nodes: string; executionMs: number }[];
}

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

/** A plan's nodes, depth first: `Limit > Nested Loop > Index Scan (organization_to_account_…_c_idx) …`. */
function nodesOf(node: PlanNode): string[] {
  const own = node['Index Name']
    ? `${node['Node Type']} (${node['Index Name']})`
    : node['Relation Name']
      ? `${node['Node Type']} (${node['Relation Name']})`
      : node['Node Type'];
  return [own, ...(node.Plans ?? []).flatMap(nodesOf)];
}

/** `query` as drizzle ran it, its `$n` placeholders bound again to `params`. */
function boundAgain(query: string, params: unknown[]): SQL {
  const chunks = query.split(/\$(\d+)/);
  return sql.join(
    chunks.map((chunk, i) => (i % 2 === 0 ? sql.raw(chunk) : sql`${params[Number(chunk) - 1]}`)),
    sql``,
  );
}

async function explain(db: Database, query: string, params: unknown[]) {
  const [row] = await rowsOf<{ 'QUERY PLAN': unknown }>(
    db,
    sql`explain (analyze, format json) ${boundAgain(query, params)}`,
  );
  const raw = row?.['QUERY PLAN'];
  const [plan] = (typeof raw === 'string' ? JSON.parse(raw) : raw) as {
    Plan: PlanNode;
    'Execution Time': number;
  }[];
  if (!plan) throw new Error(`no plan for ${query}`);
  return { nodes: nodesOf(plan.Plan).join(' > '), executionMs: Number(plan['Execution Time'].toFixed(3)) };
}

async function measure(options: { url: string | undefined; tenants: number; calls: number }) {
  const queries: { query: string; params: unknown[] }[] = [];
  let capturing = false;
  const handle = await openDatabase({
    url: options.url,
    logQuery: (query, params) => {
      if (capturing) queries.push({ query, params });
    },
  });
  const store = await storeOver(handle);
  try {
    const started = performance.now();
    await seed(handle.db, options.tenants);
    const seededMs = performance.now() - started;
    const adminSecret = randomBytes(36).toString('base64url');
    const app = createBillingApp({
      config: { jwtSecret: randomBytes(36).toString('base64url'), adminSecret, leaseSweepMs: 0 },
      dependencies: { store, logger: createLogger({ level: 'silent' }), dispatcher: false },
    });
    const server = await listen(app.fetch, { port: 0, hostname: '127.0.0.1' });
    const authorization = `Bearer ${await signAdminToken(adminSecret, { subject: 'bench', ttlSeconds: 86_400 })}`;
    const results: Measured[] = [];
    try {
      for (const { name, path, expect } of casesFor(options.tenants)) {
        const call = async () => {
          const res = await fetch(`${server.origin}${path}`, { headers: { authorization } });
          const body: unknown = await res.json();
          if (res.status !== 200 || !expect(body))
            throw new Error(`${name}: ${path} answered ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
        };
        for (let i = 0; i < WARMUP_CALLS; i++) await call();
        const latencies = new Float64Array(options.calls);
        for (let i = 0; i < options.calls; i++) {
          const start = performance.now();
          await call();
          latencies[i] = performance.now() - start;
        }
        latencies.sort();
        queries.length = 0;
        capturing = true;
        await call();
        capturing = false;
        const plans = [];
        for (const { query, params } of queries) plans.push(await explain(handle.db, query, params));
        results.push({
          name,
          path,
          p50Ms: Number(percentile(latencies, 0.5).toFixed(2)),
          p99Ms: Number(percentile(latencies, 0.99).toFixed(2)),
          plans,
        });
      }
    } finally {
      await server.close(5_000);
    }
    return { seededMs: Math.round(seededMs), results };
  } finally {
    await store.close();
  }
}

function report(
  measured: Awaited<ReturnType<typeof measure>>,
  settings: { tenants: number; calls: number; where: string },
): string {
  const rows = measured.results.map(
    (r) =>
      `| ${r.name} | \`${r.path.length > 60 ? `${r.path.slice(0, 57)}…` : r.path}\` | ${r.p50Ms} | ${r.p99Ms} |`,
  );
  const plans = measured.results.flatMap((r) => [
    `- **${r.name}**`,
    ...r.plans.map((plan) => `  - ${plan.nodes} — ${plan.executionMs} ms`),
  ]);
  return [
    `Admin listings — ${new Date().toISOString()} — ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}`,
    `${settings.tenants.toLocaleString('en')} tenants seeded in ${measured.seededMs} ms on ${settings.where}; ` +
      `${settings.calls} calls per listing after ${WARMUP_CALLS} warm-up, one at a time, through the REST route over loopback`,
    '',
    '| listing | route | p50 ms | p99 ms |',
    '|---|---|---:|---:|',
    ...rows,
    '',
    'Plans (EXPLAIN ANALYZE of the queries one call ran, in order; node types depth first):',
    '',
    ...plans,
  ].join('\n');
}

async function main() {
  const { values } = parseArgs({
    options: {
      tenants: { type: 'string', default: '100000' },
      calls: { type: 'string', default: '200' },
      pglite: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const settings = {
    // Fewer leave listings the run checks empty (customer cus_0042, a full page of the audit log).
    tenants: wholeNumber(values, 'tenants', 500, USAGE),
    calls: wholeNumber(values, 'calls', 1, USAGE),
  };
  let database: Awaited<ReturnType<typeof runDatabase>> | undefined;
  if (!values.pglite) {
    const base = process.env['DATABASE_URL'] || process.env['TEST_DATABASE_URL'];
    if (!base) throw new Error('no PostgreSQL: set DATABASE_URL or TEST_DATABASE_URL (or pass --pglite)');
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => process.exit(signal === 'SIGINT' ? 130 : 143));
    }
    database = await runDatabase(base, 'billing_admin_bench');
  }
  let measured: Awaited<ReturnType<typeof measure>>;
  try {
    measured = await measure({ url: database?.url, ...settings });
  } finally {
    if (values.keep && database) {
      await database.close();
      console.error(`kept the PostgreSQL database at ${database.url} (--keep)`);
    } else await database?.drop();
  }
  const where = database ? `PostgreSQL at ${new URL(database.url).host}` : 'PGlite in memory';
  const table = report(measured, { ...settings, where });
  if (values.out) writeFileSync(values.out, `${table}\n`);
  console.log(values.json ? JSON.stringify({ settings, ...measured }) : table);
}

await main();
