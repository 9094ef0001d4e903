/**
 * `npx redocly lint` (the installed @redocly/cli, the ruleset `redocly.yaml` states) on the
 * checked-in openapi.json: no error, no warning, nothing ignored — and the same run on a copy of
 * the document as it was before issue 15 reports what the ruleset must keep catching.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const redocly = join(repo, 'node_modules/.bin/redocly');

/** Printed on redocly's stderr, by the preload below, for each TCP connection it tries to open. */
const NETWORK_ATTEMPT = 'network attempt blocked:';

/**
 * Loaded into redocly's process before it starts: every TCP connection it opens (telemetry, an
 * update check, a remote `$ref`) is reported and failed instead of leaving the machine, so the
 * lint is the same with or without internet and the test can tell that it tried nothing.
 */
const NO_NETWORK = `
import net from 'node:net';
import { writeSync } from 'node:fs';
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const options = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (options && typeof options === 'object' && options.path) return connect.apply(this, args);
  const where = options && typeof options === 'object' ? options.host + ':' + options.port : String(options);
  writeSync(2, '${NETWORK_ATTEMPT} ' + where + '\\n');
  process.nextTick(() => this.destroy(new Error('network access is blocked in this test')));
  return this;
};
`;

interface LintProblem {
  ruleId: string;
  severity: string;
  message: string;
  location: { pointer?: string }[];
}

interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: LintProblem[];
}

interface LintRun {
  exitCode: number;
  report: LintReport;
  stderr: string;
}

/** Runs `redocly lint <file> --format=json` from the repository root, where it finds `redocly.yaml`. */
function lint(file: string): Promise<LintRun> {
  const args = ['--import', `data:text/javascript,${encodeURIComponent(NO_NETWORK)}`, redocly];
  const env = {
    ...process.env,
    REDOCLY_TELEMETRY: 'off',
    REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
    NO_COLOR: '1',
  };
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...args, 'lint', file, '--format=json'],
      { cwd: repo, env },
      (error, stdout, stderr) => {
        const exitCode = error ? error.code : 0;
        if (typeof exitCode !== 'number') {
          reject(error);
          return;
        }
        try {
          resolve({ exitCode, report: JSON.parse(stdout) as LintReport, stderr });
        } catch {
          reject(new Error(`redocly lint exited ${exitCode} without a JSON report:\n${stdout}\n${stderr}`));
        }
      },
    );
  });
}

/** One line per problem, so a failing assertion prints what redocly found and where. */
const described = (report: LintReport) =>
  report.problems.map(
    (problem) =>
      `${problem.severity} ${problem.ruleId} at ${problem.location[0]?.pointer ?? '?'}: ${problem.message}`,
  );

describe('redocly lint openapi.json', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'openapi-lint-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('reports no error and no warning with the recommended ruleset, and ignores nothing', async () => {
    const { exitCode, report, stderr } = await lint('openapi.json');
    expect(described(report)).toEqual([]);
    expect(report.totals).toEqual({ errors: 0, warnings: 0, ignored: 0 });
    expect(exitCode).toBe(0);
    // redocly says this when it found no redocly.yaml and fell back to its defaults.
    expect(stderr).not.toContain('No configurations were provided');
    expect(stderr).not.toContain(NETWORK_ATTEMPT);
  });

  it('still catches what the document had wrong before: an unsecured operation, no license, an example its schema refuses', async () => {
    const document = JSON.parse(readFileSync(join(repo, 'openapi.json'), 'utf8'));
    delete document.info.license;
    delete document.paths['/webhooks/orb'].post.security;
    delete document.components.schemas.Tenant.example.soft_limits;
    const broken = join(scratch, 'openapi.json');
    writeFileSync(broken, JSON.stringify(document, null, 2));

    const { exitCode, report, stderr } = await lint(broken);
    // Rule and place only: the wording is redocly's to change.
    const found = report.problems.map(
      (problem) => `${problem.severity} ${problem.ruleId} at ${problem.location[0]?.pointer ?? '?'}`,
    );
    expect(found.sort(), described(report).join('\n')).toEqual([
      'error security-defined at #/paths/~1webhooks~1orb/post',
      'warn info-license at #/info',
      'warn no-invalid-schema-examples at #/components/schemas/Tenant/example',
    ]);
    expect(exitCode).not.toBe(0);
    expect(stderr).not.toContain(NETWORK_ATTEMPT);
  });
});
