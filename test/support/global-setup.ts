import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/db/database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A migrated, empty PGlite database dumped once; each store test starts from a copy (~0.5 s instead of ~2 s). */
    pgliteTemplate: string;
    /**
     * The same, as a data directory: a spawned server or CLI starts on a copy (~0.2 s) instead of
     * creating and migrating its own (~6 s).
     */
    pgliteDirTemplate: string;
    /**
     * With TEST_DATABASE_URL: a migrated, empty PostgreSQL database that each store test copies
     * (`create database … template …`) instead of migrating a database of its own; '' without.
     */
    postgresTemplate: string;
  }
}

/** Why a CI run stops before any test: the PostgreSQL tests would otherwise vanish from it. */
export const POSTGRES_REQUIRED_IN_CI =
  'CI: TEST_DATABASE_URL is not set, so the PostgreSQL tests (every store test on PostgreSQL, two replicas, ' +
  'faults, PgBouncer, soak, bench on PostgreSQL) would be skipped: set it (.ci/run does when PostgreSQL answers on 127.0.0.1:5432)';

/** What a local run without PostgreSQL leaves out, said before the tests start. */
const POSTGRES_SKIPPED =
  'TEST_DATABASE_URL is not set: store tests run on PGlite only; the PostgreSQL-only tests (two replicas, ' +
  'faults, PgBouncer, soak, bench on PostgreSQL, lease sweeps on two replicas) are skipped. Set it to run them ' +
  '(e.g. TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test).';

/** A PostgreSQL database of `url`'s server, named `name`. */
function databaseUrl(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

async function createPostgresTemplate(url: string): Promise<{ name: string; drop(): Promise<void> }> {
  const name = `billing_template_${randomBytes(6).toString('hex')}`;
  const server = postgres(url, { max: 1, onnotice: () => {} });
  await server.unsafe(`create database ${name}`);
  const handle = await openDatabase({ url: databaseUrl(url, name), maxConnections: 1 });
  await handle.close();
  return {
    name,
    async drop() {
      await server.unsafe(`drop database if exists ${name} with (force)`);
      await server.end();
    },
  };
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'billing-test-'));
  const handle = await openDatabase({});
  if (!handle.dump) throw new Error('PGlite handles can dump their data directory');
  const path = join(dir, 'pglite-template.tar');
  writeFileSync(path, Buffer.from(await (await handle.dump()).arrayBuffer()));
  await handle.close();
  project.provide('pgliteTemplate', path);
  const templateDir = join(dir, 'pglite-dir');
  await (await openDatabase({ dataDir: templateDir })).close();
  project.provide('pgliteDirTemplate', templateDir);

  const url = process.env['TEST_DATABASE_URL'];
  if (!url) {
    // In CI a missing PostgreSQL is a failure, never a quiet skip; on a laptop it is said once.
    if (process.env['CI']) throw new Error(POSTGRES_REQUIRED_IN_CI);
    console.warn(POSTGRES_SKIPPED);
  }
  const template = url ? await createPostgresTemplate(url) : undefined;
  project.provide('postgresTemplate', template?.name ?? '');
  return async () => {
    rmSync(dir, { recursive: true, force: true });
    await template?.drop();
  };
}
