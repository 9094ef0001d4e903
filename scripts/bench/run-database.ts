import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

/**
 * A database of one bench run's own on `base`'s server (`<prefix>_<random>`), created empty:
 * `drop` removes it, `close` leaves it for a look afterwards (`--keep`).
 */
export async function runDatabase(base: string, prefix: string) {
  const admin = postgres(base, { max: 1, onnotice: () => {}, connect_timeout: 3 });
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  try {
    await admin.unsafe(`create database ${name}`);
  } catch (error) {
    await admin.end({ timeout: 1 });
    throw new Error(`PostgreSQL at ${new URL(base).host} not reachable: ${(error as Error).message}`);
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      try {
        await admin.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await admin.end({ timeout: 1 });
      }
    },
    close: () => admin.end({ timeout: 1 }),
  };
}
