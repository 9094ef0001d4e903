import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { devSecretsFileOf, devSecretsFor, readDevSecrets } from '../src/dev-secrets.js';

/** In this process: `test/server.test.ts` shows a spawned development server using them. */
const scratch = mkdtempSync(join(tmpdir(), 'billing-dev-secrets-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let dirs = 0;
const dataDir = () => join(scratch, `data-${++dirs}`);
const modeOf = (file: string) => statSync(file).mode & 0o777;
const SECRET = 'x'.repeat(32);

describe('development secrets beside the embedded store', () => {
  it('are kept in <dataDir>.dev-secrets.json', () => {
    expect(devSecretsFileOf('/var/lib/billing/data')).toBe('/var/lib/billing/data.dev-secrets.json');
  });

  it('are made once, 32 random bytes each, in a file only its owner can read, then read back unchanged', () => {
    const dir = dataDir();
    expect(readDevSecrets(dir)).toBeUndefined();
    const made = devSecretsFor(dir);
    expect(made.created).toBe(true);
    expect(made.file).toBe(devSecretsFileOf(dir));
    expect(made.secrets.jwt_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(made.secrets.admin_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(made.secrets.admin_secret).not.toBe(made.secrets.jwt_secret);
    expect(modeOf(made.file)).toBe(0o600);
    expect(JSON.parse(readFileSync(made.file, 'utf8'))).toEqual(made.secrets);
    expect(readFileSync(made.file, 'utf8').endsWith('}\n')).toBe(true);
    expect(readDevSecrets(dir)).toEqual(made.secrets);
    expect(devSecretsFor(dir)).toEqual({ secrets: made.secrets, file: made.file, created: false });
  });

  it('tighten a kept file someone loosened, and leave a tight one as it is', () => {
    const dir = dataDir();
    const { file, secrets } = devSecretsFor(dir);
    chmodSync(file, 0o644);
    expect(devSecretsFor(dir)).toEqual({ secrets, file, created: false });
    expect(modeOf(file)).toBe(0o600);
    chmodSync(file, 0o400);
    devSecretsFor(dir);
    expect(modeOf(file)).toBe(0o400);
  });

  it.each([
    ['not JSON', 'secrets'],
    ['a short jwt secret', JSON.stringify({ jwt_secret: 'x'.repeat(31), admin_secret: SECRET })],
    ['a short admin secret', JSON.stringify({ jwt_secret: SECRET, admin_secret: 'x'.repeat(31) })],
    ['a secret that is no string', JSON.stringify({ jwt_secret: SECRET, admin_secret: 1 })],
    ['JSON null', 'null'],
  ])('are made anew over a file with %s (mode 0600 again)', (_, content) => {
    const dir = dataDir();
    writeFileSync(devSecretsFileOf(dir), content, { mode: 0o644 });
    expect(readDevSecrets(dir)).toBeUndefined();
    const made = devSecretsFor(dir);
    expect(made.created).toBe(true);
    expect(modeOf(made.file)).toBe(0o600);
    expect(readDevSecrets(dir)).toEqual(made.secrets);
  });

  it('take secrets of exactly 32 characters, and only the two secrets of the file', () => {
    const dir = dataDir();
    writeFileSync(
      devSecretsFileOf(dir),
      JSON.stringify({ jwt_secret: SECRET, admin_secret: SECRET, extra: 1 }),
    );
    expect(readDevSecrets(dir)).toStrictEqual({ jwt_secret: SECRET, admin_secret: SECRET });
  });
});
