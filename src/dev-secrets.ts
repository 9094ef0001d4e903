import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';

/**
 * Secrets a development server on the embedded store generates when none is configured, kept
 * beside the store so that a restart keeps every token valid. The file is its owner's alone
 * (mode 0600); whoever can read it can read and write the database files beside it anyway.
 * Production never uses it: there `BILLING_JWT_SECRET` is required and nothing is generated.
 */
export interface DevSecrets {
  jwt_secret: string;
  admin_secret: string;
}

export const devSecretsFileOf = (dataDir: string) => `${dataDir}.dev-secrets.json`;

const isSecret = (value: unknown): value is string => typeof value === 'string' && value.length >= 32;

/** The secrets kept for `dataDir`, if a development server made them. */
export function readDevSecrets(dataDir: string): DevSecrets | undefined {
  try {
    const kept = JSON.parse(readFileSync(devSecretsFileOf(dataDir), 'utf8')) as Partial<DevSecrets>;
    return isSecret(kept.jwt_secret) && isSecret(kept.admin_secret)
      ? { jwt_secret: kept.jwt_secret, admin_secret: kept.admin_secret }
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The kept secrets, made now if there are none (or they are unreadable). Call it holding the
 * data directory's lock: one process creates them.
 */
export function devSecretsFor(dataDir: string): { secrets: DevSecrets; file: string; created: boolean } {
  const file = devSecretsFileOf(dataDir);
  const kept = readDevSecrets(dataDir);
  if (kept) {
    // Someone may have loosened it; it holds secrets.
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    return { secrets: kept, file, created: false };
  }
  const secrets: DevSecrets = {
    jwt_secret: randomBytes(32).toString('base64url'),
    admin_secret: randomBytes(32).toString('base64url'),
  };
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // an existing, unreadable file keeps its old mode through writeFileSync
  return { secrets, file, created: true };
}
