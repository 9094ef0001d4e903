import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { inTransaction } from '../../src/db/transactions.js';
import { openTestDatabase } from '../support/harness.js';

/** A database whose every transaction fails with `error`, counting the attempts. */
function failingWith(error: Error) {
  let attempts = 0;
  const db = {
    transaction: async () => {
      attempts++;
      throw error;
    },
  } as unknown as Database;
  return { db, attempts: () => attempts };
}
const postgresError = (code: string) =>
  Object.assign(new Error('Failed query: …'), { cause: Object.assign(new Error(code), { code }) });

describe('inTransaction', () => {
  it('runs a transaction again after a deadlock or a serialization failure, five times at most', async () => {
    for (const code of ['40P01', '40001']) {
      const { db, attempts } = failingWith(postgresError(code));
      await expect(inTransaction(db, async () => 1)).rejects.toThrow('Failed query');
      expect(attempts()).toBe(5);
    }
  });

  it('finds the SQLSTATE under wrappers whose code is something else', async () => {
    // A wrapper's own code (a word, a number) is not PostgreSQL's answer: the cause's is.
    for (const code of ['QUERY_FAILED', 12345, '4000']) {
      const { db, attempts } = failingWith(
        Object.assign(new Error('wrapped'), { code, cause: postgresError('40001') }),
      );
      await expect(inTransaction(db, async () => 1)).rejects.toThrow('wrapped');
      expect(attempts()).toBe(5);
    }
  });

  it('does not run it again for any other failure', async () => {
    for (const error of [postgresError('23505'), postgresError('57P01'), new Error('no code')]) {
      const { db, attempts } = failingWith(error);
      await expect(inTransaction(db, async () => 1)).rejects.toBe(error);
      expect(attempts()).toBe(1);
    }
  });

  it.runIf(process.env['TEST_DATABASE_URL'])(
    'on PostgreSQL: two transactions that deadlock both commit, one of them on its second attempt',
    async () => {
      const database = await openTestDatabase('postgres');
      try {
        const { db } = database;
        await db.execute(sql`create table deadlock_probe (id int primary key, n int not null)`);
        await db.execute(sql`insert into deadlock_probe values (1, 0), (2, 0)`);
        let attempts = 0;
        let bothLocked: () => void = () => {};
        const firstLocks = new Promise<void>((resolve) => {
          bothLocked = resolve;
        });
        let locked = 0;
        const transfer = (first: number, second: number) =>
          inTransaction(db, async (tx) => {
            attempts++;
            await tx.execute(sql`update deadlock_probe set n = n + 1 where id = ${first}`);
            if (++locked === 2) bothLocked();
            await firstLocks; // each holds its first row, then asks for the other's
            await tx.execute(sql`update deadlock_probe set n = n + 1 where id = ${second}`);
          });
        await Promise.all([transfer(1, 2), transfer(2, 1)]);
        expect(attempts).toBe(3);
        const rows = (await db.execute(sql`select n from deadlock_probe order by id`)) as unknown as {
          n: number;
        }[];
        expect(rows.map((row) => row.n)).toEqual([2, 2]);
      } finally {
        await database.close();
      }
    },
    30_000,
  );
});
