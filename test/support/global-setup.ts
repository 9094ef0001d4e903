import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/db/database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A migrated, empty PGlite database dumped once; each store test starts from a copy (~0.5 s instead of ~2 s). */
    pgliteTemplate: string;
  }
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'billing-test-'));
  const handle = await openDatabase({});
  if (!handle.dump) throw new Error('PGlite handles can dump their data directory');
  const path = join(dir, 'pglite-template.tar');
  writeFileSync(path, Buffer.from(await (await handle.dump()).arrayBuffer()));
  await handle.close();
  project.provide('pgliteTemplate', path);
  return () => rmSync(dir, { recursive: true, force: true });
}
