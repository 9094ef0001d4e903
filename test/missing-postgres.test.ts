import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { POSTGRES_REQUIRED_IN_CI } from './support/global-setup.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** `vitest run` of one small test file, with `env` and never TEST_DATABASE_URL. */
function vitestWithoutPostgres(env: Record<string, string>) {
  return new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['node_modules/vitest/vitest.mjs', 'run', 'test/config.test.ts', '--reporter', 'dot'],
      { cwd: root, env: { PATH: process.env['PATH'] ?? '', ...env } },
    );
    let output = '';
    for (const stream of [child.stdout, child.stderr]) {
      stream.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
    }
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('a run without PostgreSQL', () => {
  it('fails in CI, before any test, naming TEST_DATABASE_URL', async () => {
    const { code, output } = await vitestWithoutPostgres({ CI: 'true' });
    expect(code).not.toBe(0);
    expect(output).toContain(POSTGRES_REQUIRED_IN_CI);
    expect(output).not.toMatch(/Tests\s+\d+ passed/);
  }, 60_000);

  it('runs elsewhere, and says what it skipped', async () => {
    const { code, output } = await vitestWithoutPostgres({});
    expect(code, output).toBe(0);
    expect(output).toContain('TEST_DATABASE_URL is not set: store tests run on PGlite only');
  }, 60_000);
});
