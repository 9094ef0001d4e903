import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import postgres from 'postgres';
import { inject } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { createLimitsStore } from '../../src/db/limits-store.js';
import type { LimitsStore } from '../../src/limits/limits-store.js';

export type StoreKind = 'pglite' | 'postgres';

const postgresUrl = process.env['TEST_DATABASE_URL'];

/** Every store test runs on PGlite, and on PostgreSQL too when TEST_DATABASE_URL is set. */
export const STORE_KINDS: StoreKind[] = postgresUrl ? ['pglite', 'postgres'] : ['pglite'];

export interface TestDatabase {
  kind: StoreKind;
  /** PostgreSQL only: the URL of this test's own database, for a second app instance. */
  url: string | undefined;
  handle: DatabaseHandle;
  store: LimitsStore;
  /** Another connection pool and store on the same database — a second replica. */
  openReplica(): Promise<{ handle: DatabaseHandle; store: LimitsStore }>;
  close(): Promise<void>;
}

/**
 * A fresh, migrated database of its own: a PGlite copy of a template, or a PostgreSQL database
 * created for the test and dropped after it.
 */
export async function openTestDatabase(kind: StoreKind): Promise<TestDatabase> {
  if (kind === 'pglite') {
    const template = new Blob([readFileSync(inject('pgliteTemplate'))]);
    const handle = await openDatabase({ pgliteTemplate: template });
    const store = await createLimitsStore(handle);
    return {
      kind,
      url: undefined,
      handle,
      store,
      openReplica: () => Promise.reject(new Error('PGlite has a single client: no second replica')),
      close: () => handle.close(),
    };
  }
  if (!postgresUrl) throw new Error('TEST_DATABASE_URL is not set');
  const name = `billing_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(postgresUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  const handles: DatabaseHandle[] = [];
  const open = async () => {
    const handle = await openDatabase({ url: url.toString(), maxConnections: 20 });
    handles.push(handle);
    return { handle, store: await createLimitsStore(handle) };
  };
  const first = await open();
  return {
    kind,
    url: url.toString(),
    ...first,
    openReplica: open,
    async close() {
      await Promise.all(handles.map((handle) => handle.close()));
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}
