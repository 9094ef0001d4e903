import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const databaseUrl = process.env['TEST_DATABASE_URL'];

/** Runs the soak script as `npm run soak` would, to the end; resolves with its exit code and output. */
function runSoak(args: string[], url: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, TEST_DATABASE_URL: url };
  delete env['DATABASE_URL']; // the script prefers DATABASE_URL; this test means TEST_DATABASE_URL
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/soak.ts', ...args], {
      cwd: root,
      env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGINT'), 80_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe.skipIf(!databaseUrl)('soak script (short run on TEST_DATABASE_URL)', () => {
  it('runs replicas under mixed traffic, checks the database and exits 0', async () => {
    const { code, stdout, stderr } = await runSoak(
      ['--duration', '8', '--tenants', '5', '--concurrency', '8'],
      databaseUrl ?? '',
    );
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(stdout).toContain('## Routes');
    for (const invariant of [1, 2, 3, 4])
      expect(stdout).toMatch(new RegExp(`^- PASS \\(${invariant}\\) `, 'm'));
    expect(stdout).not.toMatch(/^- FAIL/m);
    expect(stdout).toContain('None: every answer had an expected status and body.');
    // Work was done, not only checked: grants, releases and Orb deliveries each happened.
    for (const outcome of ['granted (201)', 'released (204)', 'webhook: applied']) {
      const count = Number(
        new RegExp(`^- ${outcome.replace(/[()]/g, '\\$&')}: (\\d+)$`, 'm').exec(stdout)?.[1] ?? 0,
      );
      expect(count, `${outcome} in:\n${stdout}`).toBeGreaterThan(0);
    }
    expect(stderr).toMatch(/dropped database billing_soak_[0-9a-f]+/);
  }, 90_000);
});
