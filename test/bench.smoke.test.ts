import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('npm run bench', () => {
  it('measures a baseline and the service in one run and reports them as JSON', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        'scripts/bench.ts',
        '--targets',
        'hono,header',
        '--duration',
        '1',
        '--warmup',
        '0',
        '--connections',
        '4',
        '--json',
      ],
      { cwd: root, env: { PATH: process.env['PATH'] ?? '' }, timeout: 60_000 },
    );
    const report = JSON.parse(stdout) as { results: { target: string; requests: number; errors: number }[] };
    expect(report.results.map((r) => r.target)).toEqual(['hono', 'header']);
    for (const result of report.results) {
      expect(result.requests).toBeGreaterThan(0);
      expect(result.errors).toBe(0);
    }
  }, 90_000);
});
