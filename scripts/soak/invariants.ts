/** What the database must hold after the soak, checked straight in PostgreSQL against the script's ledger. */
import type postgres from 'postgres';
import { RESOURCES, type SoakTenant } from './tenants.js';
import type { Workload } from './workload.js';

export interface InvariantResult {
  name: string;
  pass: boolean;
  summary: string;
  /** The first differing rows, as markdown table lines (header included). */
  rows: string[];
}

const SHOWN_ROWS = 10;

function table(header: string[], rows: (string | number)[][]): string[] {
  if (rows.length === 0) return [];
  const shown = rows.slice(0, SHOWN_ROWS).map((row) => `| ${row.join(' | ')} |`);
  const more = rows.length > SHOWN_ROWS ? [`(and ${rows.length - SHOWN_ROWS} more)`] : [];
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...shown, ...more];
}

export async function checkInvariants(
  sql: postgres.Sql,
  tenants: readonly SoakTenant[],
  workload: Workload,
): Promise<InvariantResult[]> {
  const counters = await sql<{ organization_id: string; resource: string; used: number }[]>`
    select organization_id, resource, used from usage_counter`;
  const rows = await sql<
    { id: string; organization_id: string; resource: string; quantity: number; released: boolean }[]
  >`select id::text as id, organization_id, resource, quantity, released_at is not null as released
    from reservation`;
  const events = await sql<{ id: string }[]>`select id from webhook_event`;

  const key = (tenant: string, resource: string) => `${tenant}\t${resource}`;
  const used = new Map(counters.map((row) => [key(row.organization_id, row.resource), row.used]));
  const heldInDb = new Map<string, number>();
  const dbReservations = new Map<string, (typeof rows)[number][]>();
  for (const row of rows) {
    if (!row.released) {
      const k = key(row.organization_id, row.resource);
      heldInDb.set(k, (heldInDb.get(k) ?? 0) + row.quantity);
    }
    const same = dbReservations.get(row.id) ?? [];
    same.push(row);
    dbReservations.set(row.id, same);
  }
  const tracked = new Map<string, number>();
  let uncertain = 0;
  for (const grant of workload.grants.values()) {
    const k = key(grant.tenant, grant.resource);
    const held = grant.state === 'released' ? 0 : grant.quantity;
    if (grant.state === 'unknown') uncertain += 1;
    tracked.set(k, (tracked.get(k) ?? 0) + held);
  }

  const keys = new Set<string>([
    ...tenants.flatMap((t) => RESOURCES.map((r) => key(t.id, r))),
    ...used.keys(),
    ...heldInDb.keys(),
    ...tracked.keys(),
  ]);
  const sortedKeys = [...keys].sort();
  const split = (k: string) => k.split('\t');

  // (1) used = granted − released, as this script saw it.
  const ledgerDiffs = sortedKeys
    .filter((k) => (used.get(k) ?? 0) !== (tracked.get(k) ?? 0))
    .map((k) => [...split(k), used.get(k) ?? 0, tracked.get(k) ?? 0]);
  // (2) used = Σ quantity of unreleased reservations in the database.
  const dbDiffs = sortedKeys
    .filter((k) => (used.get(k) ?? 0) !== (heldInDb.get(k) ?? 0))
    .map((k) => [...split(k), used.get(k) ?? 0, heldInDb.get(k) ?? 0]);
  // (3) every reservation_id granted to the script is in the table once, as granted and as released.
  const reservationDiffs: (string | number)[][] = [];
  for (const grant of workload.grants.values()) {
    const found = dbReservations.get(grant.id) ?? [];
    const [row] = found;
    const expected = `${grant.tenant} ${grant.resource} ×${grant.quantity} ${grant.state}`;
    if (found.length !== 1 || !row) {
      reservationDiffs.push([grant.id, expected, `${found.length} rows`]);
      continue;
    }
    const releasedAsExpected = grant.state === 'unknown' || (grant.state === 'released') === row.released;
    if (
      row.organization_id !== grant.tenant ||
      row.resource !== grant.resource ||
      row.quantity !== grant.quantity ||
      !releasedAsExpected
    ) {
      const actual = `${row.organization_id} ${row.resource} ×${row.quantity} ${row.released ? 'released' : 'held'}`;
      reservationDiffs.push([grant.id, expected, actual]);
    }
  }
  for (const row of rows) {
    if (!workload.grants.has(row.id)) {
      const actual = `${row.organization_id} ${row.resource} ×${row.quantity} ${row.released ? 'released' : 'held'}`;
      reservationDiffs.push([row.id, 'never granted to the script', actual]);
    }
  }
  // (4) one webhook_event row per distinct event id delivered.
  const delivered = workload.deliveredEvents;
  const inDb = new Set(events.map((row) => row.id));
  const eventDiffs: string[][] = [];
  for (const id of delivered.keys()) if (!inDb.has(id)) eventDiffs.push([id, 'delivered (200)', 'no row']);
  for (const id of inDb) {
    if (!delivered.has(id)) {
      const why = workload.undeliveredEvents.has(id) ? 'sent, no 200 answer' : 'never sent';
      eventDiffs.push([id, why, 'row']);
    }
  }

  return [
    {
      name: '(1) usage_counter.used = Σ granted − Σ released, per the script',
      pass: ledgerDiffs.length === 0,
      summary: `${keys.size} tenant × resource pairs, ${workload.grants.size} grants tracked${
        uncertain > 0 ? ` (${uncertain} with a release of unknown outcome, counted as held)` : ''
      }`,
      rows: table(['tenant', 'resource', 'used (db)', 'granted − released (script)'], ledgerDiffs),
    },
    {
      name: '(2) usage_counter.used = Σ reservation.quantity where released_at is null',
      pass: dbDiffs.length === 0,
      summary: `${rows.length} reservation rows`,
      rows: table(['tenant', 'resource', 'used (db)', 'Σ unreleased quantity (db)'], dbDiffs),
    },
    {
      name: '(3) every reservation_id granted is in `reservation` exactly once (and no other row)',
      pass: reservationDiffs.length === 0,
      summary: `${workload.grants.size} granted to the script, ${rows.length} rows`,
      rows: table(['reservation_id', 'script', 'database'], reservationDiffs),
    },
    {
      name: '(4) webhook_event rows = distinct event ids delivered',
      pass: eventDiffs.length === 0 && inDb.size === delivered.size,
      summary: `${events.length} rows, ${delivered.size} distinct ids delivered`,
      rows: table(['event id', 'script', 'database'], eventDiffs),
    },
  ];
}
