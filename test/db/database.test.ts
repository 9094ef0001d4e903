import { randomBytes, randomUUID } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate as drizzleMigrate } from 'drizzle-orm/postgres-js/migrator';
import fc from 'fast-check';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { inlineParameters, openDatabase } from '../../src/db/database.js';
import { reservation } from '../../src/db/schema.js';
import { createUsageStore } from '../../src/db/usage-store.js';
import { createHarness, STORE_KINDS, useHarness } from '../support/harness.js';

const MIGRATIONS = fileURLToPath(new URL('../../drizzle', import.meta.url));

describe('openDatabase on PGlite', () => {
  it('starts an in-memory database from a template: what the template holds is there', async () => {
    const source = await openDatabase({});
    await source.db.execute(sql`create table template_marker (note text)`);
    await source.db.execute(sql`insert into template_marker values ('from the template')`);
    const template = await source.dump?.();
    await source.close();
    if (!template) throw new Error('PGlite handles can dump their data directory');

    // An in-memory PGlite given no data directory ignored the template: every test database was
    // migrated from scratch (2.7 s against 1.1 s loaded, measured).
    const copy = await openDatabase({ pgliteTemplate: template });
    try {
      const rows = (await copy.db.execute(sql`select note from template_marker`)) as unknown as {
        rows: { note: string }[];
      };
      expect(rows.rows).toEqual([{ note: 'from the template' }]);
      expect(await copy.pendingMigrations()).toBe(0);
    } finally {
      await copy.close();
    }
  }, 60_000);
});

describe('inlineParameters: the hot path without prepared statements', () => {
  it('writes each value as the literal of the text postgres.js would have sent for it', () => {
    expect(
      inlineParameters(
        'select "limit" from billing_reserve($1::text, $2::integer, $3::double precision, $4)',
        ["it's", 5, 1.5, null],
      ),
    ).toBe(
      `select "limit" from billing_reserve(E'it''s'::text, E'5'::integer, E'1.5'::double precision, NULL)`,
    );
    // Backslashes doubled inside E'…': read the same with standard_conforming_strings on or off.
    expect(inlineParameters('select $1::text', ['a\\b\\'])).toBe(`select E'a\\\\b\\\\'::text`);
    // A value holding what looks like SQL or a placeholder stays a value.
    expect(inlineParameters('select $1::text, $2::text', ["$2'); drop table plan; --", 'x'])).toBe(
      `select E'$2''); drop table plan; --'::text, E'x'::text`,
    );
  });

  it.each([
    ['a string literal', "select $1::text, 'a $2'", ['x', 'y']],
    ['a comment', 'select $1::text -- $2', ['x', 'y']],
    ['a block comment', 'select $1::text /* $2 */', ['x', 'y']],
    ['a dollar quote', 'select $$ $1 $$, $1::text', ['x']],
    ['a quoted identifier with a $', 'select "a$1" from f($1::text)', ['x']],
    ['a $ within a name', 'select a$1 from f($1::text)', ['x']],
    ['a placeholder without a value', 'select $1::text, $2::text', ['x']],
    ['a placeholder glued to a quoted identifier', 'select "a"$1 from f($1::text)', ['x']],
    ['a value without a literal, even one no placeholder uses', 'select $2::text', [{ a: 1 }, 'x']],
    ['a boolean (postgres.js types it)', 'select $1', [true]],
    ['a date (postgres.js types it)', 'select $1', [new Date(0)]],
    ['an object', 'select $1', [{ a: 1 }]],
    ['undefined (postgres.js refuses it)', 'select $1', [undefined]],
    ['text with a NUL (PostgreSQL refuses it)', 'select $1::text', ['a\0b']],
  ])('leaves the statement to postgres.js when it holds %s', (_, query, parameters) => {
    expect(inlineParameters(query, parameters)).toBeUndefined();
  });
});

/**
 * A relay in front of PostgreSQL that counts the messages after which the client waits for the
 * server (Sync, Flush, simple Query): one per round trip.
 */
async function startRoundTripCounter(target: URL) {
  let waits = 0;
  const open = new Set<Socket>();
  const relay = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    open.add(client).add(upstream);
    let pending = Buffer.alloc(0);
    let startup = true;
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        // The startup message (and an SSL or GSSAPI request before it) has no type byte.
        const header = startup ? 0 : 1;
        if (pending.length < header + 4) break;
        const length = pending.readInt32BE(header);
        if (pending.length < header + length) break;
        if (startup) startup = [80_877_103, 80_877_104].includes(pending.readInt32BE(4));
        else if ('SHQ'.includes(String.fromCharCode(pending[0] ?? 0))) waits++;
        pending = pending.subarray(header + length);
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const address = relay.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    waits: () => waits,
    through(url: string) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    close() {
      for (const socket of open) socket.destroy();
      return new Promise<void>((resolve) => relay.close(() => resolve()));
    },
  };
}

describe.runIf(STORE_KINDS.includes('postgres'))('openDatabase on PostgreSQL', () => {
  const h = useHarness({ store: 'postgres' });
  const urlOf = (database: { url: string | undefined }) => {
    if (!database.url) throw new Error('a PostgreSQL test database has a URL');
    return database.url;
  };
  const request = (idempotencyKey: string = randomUUID(), reference?: string) => ({
    resource: 'deployments' as const,
    quantity: 1,
    idempotencyKey,
    fingerprint: 'fingerprint',
    reference,
  });

  it.each([
    ['prepared', true],
    ['with prepared statements off (BILLING_DATABASE_PREPARE=false)', false],
  ])('grants and releases in one round trip each, %s', async (_, prepare) => {
    const counter = await startRoundTripCounter(new URL(urlOf(h.database)));
    const handle = await openDatabase({
      url: counter.through(urlOf(h.database)),
      maxConnections: 1,
      prepare,
    });
    try {
      const usage = createUsageStore(handle.db);
      const tenant = await h.tenant('enterprise');
      const reserveAndRelease = async () => {
        const outcome = await usage.reserve(tenant, request());
        if (outcome.kind !== 'granted') throw new Error(`not granted: ${outcome.kind}`);
        expect(await usage.release(tenant, outcome.grant.reservationId)).toEqual({
          kind: 'released',
          resource: 'deployments',
        });
      };
      // A prepared statement's first call on a connection describes it first: a round trip more.
      await reserveAndRelease();
      const before = counter.waits();
      for (let call = 0; call < 3; call++) await reserveAndRelease();
      // Unprepared, postgres.js would describe every call first: 12.
      expect(counter.waits() - before).toBe(6);
    } finally {
      await handle.close();
      await counter.close();
    }
  });

  it('stores keys and references byte for byte with prepared statements off, whatever standard_conforming_strings says', async () => {
    const own = await createHarness({ store: 'postgres' });
    const url = urlOf(own.database);
    const name = new URL(url).pathname.slice(1);
    await own.db.execute(sql.raw(`alter database ${name} set standard_conforming_strings = off`));
    const unprepared = await openDatabase({ url, maxConnections: 1, prepare: false });
    try {
      const [setting] = (await unprepared.db.execute(sql`show standard_conforming_strings`)) as unknown as {
        standard_conforming_strings: string;
      }[];
      expect(setting?.standard_conforming_strings).toBe('off');
      const usage = createUsageStore(unprepared.db);
      const tenant = await own.tenant('enterprise');
      const tricky = fc.string({
        unit: fc.oneof(
          fc.constantFrom("'", "''", '\\', "\\'", '$1', '$$', '"', '--', '/*', ';', '\n', "E'", 'ü', '🧾'),
          fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
        ),
        minLength: 1,
        maxLength: 40,
      });
      await fc.assert(
        fc.asyncProperty(tricky, tricky, async (suffix, reference) => {
          const key = `${randomUUID()}${suffix}`.replaceAll('\0', '');
          const cleanReference = reference.replaceAll('\0', '');
          const granted = await usage.reserve(tenant, request(key, cleanReference));
          if (granted.kind !== 'granted') throw new Error(`not granted: ${granted.kind}`);
          const [row] = await own.db
            .select({ key: reservation.idempotencyKey, reference: reservation.reference })
            .from(reservation)
            .where(eq(reservation.id, granted.grant.reservationId));
          expect(row).toEqual({ key, reference: cleanReference });
          // Found again by the same key: the replay answers the first grant.
          const replayed = await usage.reserve(tenant, request(key, cleanReference));
          expect(replayed).toMatchObject({
            kind: 'replayed',
            grant: { reservationId: granted.grant.reservationId },
          });
        }),
        { numRuns: 40 },
      );
    } finally {
      await unprepared.close();
    }
  }, 60_000);

  it('refuses a key with a NUL byte the same way, prepared or not', async () => {
    const tenant = await h.tenant('enterprise');
    const codes: unknown[] = [];
    for (const prepare of [true, false]) {
      const handle = await openDatabase({ url: urlOf(h.database), maxConnections: 1, prepare });
      try {
        const failure = await createUsageStore(handle.db)
          .reserve(tenant, request('nul\0key'))
          .then(
            () => undefined,
            (error: unknown) => error,
          );
        codes.push((failure as { cause?: { code?: unknown } } | undefined)?.cause?.code);
      } finally {
        await handle.close();
      }
    }
    // 22021: invalid byte sequence for encoding "UTF8": 0x00.
    expect(codes).toEqual(['22021', '22021']);
  });

  it('keeps the journal drizzle’s migrator writes: either one finds the other’s database up to date', async () => {
    const server = postgres(urlOf(h.database), { max: 1, onnotice: () => {} });
    const names = [1, 2].map(() => `billing_migrate_${randomBytes(6).toString('hex')}`);
    const urlFor = (name: string) => {
      const parsed = new URL(urlOf(h.database));
      parsed.pathname = `/${name}`;
      return parsed.toString();
    };
    const journal = async (url: string) => {
      const client = postgres(url, { max: 1, onnotice: () => {} });
      try {
        return await client`select hash, created_at from drizzle.__drizzle_migrations order by id`;
      } finally {
        await client.end();
      }
    };
    const withDrizzle = async (url: string) => {
      const client = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await drizzleMigrate(drizzle(client), { migrationsFolder: MIGRATIONS });
      } finally {
        await client.end();
      }
    };
    const withOurs = async (url: string) => (await openDatabase({ url, maxConnections: 1 })).close();
    try {
      for (const name of names) await server.unsafe(`create database ${name}`);
      const [drizzleFirst = '', oursFirst = ''] = names.map(urlFor);
      await withDrizzle(drizzleFirst);
      const byDrizzle = await journal(drizzleFirst);
      await withOurs(drizzleFirst);
      expect(await journal(drizzleFirst)).toEqual(byDrizzle);

      await withOurs(oursFirst);
      const byUs = await journal(oursFirst);
      expect(byUs.map((row) => row['hash'])).toEqual(byDrizzle.map((row) => row['hash']));
      await withDrizzle(oursFirst);
      expect(await journal(oursFirst)).toEqual(byUs);
    } finally {
      for (const name of names) await server.unsafe(`drop database if exists ${name} with (force)`);
      await server.end();
    }
  }, 60_000);

  it('hears its own NOTIFY directly on PostgreSQL: listens, and says so', async () => {
    const handle = await openDatabase({ url: urlOf(h.database), maxConnections: 1 });
    try {
      const heard: string[] = [];
      expect(await handle.listen('billing_database_test', (payload) => heard.push(payload))).toBe(true);
      await handle.db.execute(sql`select pg_notify('billing_database_test', 'hello')`);
      const deadline = Date.now() + 5_000;
      while (heard.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(heard).toEqual(['hello']);
    } finally {
      await handle.close();
    }
  });
});
