import type { LimitsStore } from '../limits/limits-store.js';
import { type DatabaseOptions, openDatabase } from './database.js';
import { DEMO_TENANTS } from './demo-tenants.js';
import { createLimitsStore } from './limits-store.js';

export interface OpenStoreOptions extends DatabaseOptions {
  /** Seed the demo tenants (`org-123`, `org-456`, `org-789`) unless this database was seeded before. */
  seedDemo?: boolean;
}

/** Opens the database (migrating it), listens for other replicas' changes, and seeds demo data once. */
export async function openLimitsStore(options: OpenStoreOptions): Promise<LimitsStore> {
  const handle = await openDatabase(options);
  try {
    const store = await createLimitsStore(handle);
    if (options.seedDemo) await store.seedOnce('demo-tenants', DEMO_TENANTS);
    return store;
  } catch (error) {
    await handle.close();
    throw error;
  }
}
