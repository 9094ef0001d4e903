import { sql } from 'drizzle-orm';
import type { Database } from '../../src/db/database.js';

/**
 * Holds a tenant's usage counter rows locked (`FOR UPDATE`, in a transaction of its own) until
 * `release`: every grant for that tenant queues behind it, as behind a slow concurrent one.
 * Resolves once the lock is held.
 */
export async function holdCounterRows(db: Database, tenant: string): Promise<{ release(): Promise<void> }> {
  let letGo: () => void = () => {};
  let held: () => void = () => {};
  const holding = new Promise<void>((resolve) => {
    held = resolve;
  });
  const holder = db.transaction(async (tx) => {
    await tx.execute(sql`select 1 from usage_counter where organization_id = ${tenant} for update`);
    held();
    await new Promise<void>((resolve) => {
      letGo = resolve;
    });
  });
  await Promise.race([holding, holder]);
  return {
    async release() {
      letGo();
      await holder;
    },
  };
}
