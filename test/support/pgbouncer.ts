/**
 * Debian's PgBouncer in transaction mode, started by a test in front of the local PostgreSQL (the
 * one TEST_DATABASE_URL names): a child process of the test on a port of its own, with its ini
 * and userlist in a temporary directory, stopped and removed after.
 *
 * @example
 * const bouncer = await startPgBouncer(process.env.TEST_DATABASE_URL);
 * const pooled = bouncer.through(databaseUrl); // same user and database, through PgBouncer
 * await bouncer.stop();
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pointedAt } from './tcp-proxy.js';

/** Where Debian installs it (`apt-get install pgbouncer`), else the first on PATH. */
function findPgBouncer(): string | undefined {
  const candidates = [
    '/usr/sbin/pgbouncer',
    ...(process.env['PATH'] ?? '').split(delimiter).map((dir) => join(dir, 'pgbouncer')),
  ];
  return candidates.find((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The PgBouncer binary; `undefined` when it is not installed. */
export const PGBOUNCER = findPgBouncer();

/**
 * Why the PgBouncer tests cannot run here, if they cannot: skipped on a machine without it, but
 * in CI (`CI` set) a missing PgBouncer is a failure, not a skip (`startPgBouncer` throws).
 */
export const PGBOUNCER_MISSING =
  PGBOUNCER === undefined && !process.env['CI']
    ? 'PgBouncer is not installed (/usr/sbin/pgbouncer): `apt-get install pgbouncer` to run these tests'
    : undefined;

export interface PgBouncer {
  readonly port: number;
  /** `url` (a PostgreSQL URL of the server behind it) pointed at PgBouncer: same user and database. */
  through(url: string): string;
  /** Everything PgBouncer logged so far. */
  log(): string;
  stop(): Promise<void>;
}

export interface PgBouncerOptions {
  /** Server connections per database and user (PgBouncer's `default_pool_size`). */
  poolSize?: number;
}

/** A port nothing listens on right now (PgBouncer, given port 0, does not say which it took). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/**
 * Starts PgBouncer in transaction mode in front of `serverUrl`'s host and port, trusting every
 * user named in its userlist (`serverUrl`'s), for any database; resolves once it accepts
 * connections. Throws when PgBouncer is not installed.
 */
export async function startPgBouncer(serverUrl: string, options: PgBouncerOptions = {}): Promise<PgBouncer> {
  if (!PGBOUNCER)
    throw new Error('PgBouncer is not installed (/usr/sbin/pgbouncer): apt-get install pgbouncer');
  const server = new URL(serverUrl);
  const dir = mkdtempSync(join(tmpdir(), 'billing-pgbouncer-'));
  // Run as root it must drop to another user (-u), who has to read its files.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chmodSync(dir, 0o755);
  const userlist = join(dir, 'userlist.txt');
  writeFileSync(userlist, `"${decodeURIComponent(server.username)}" ""\n`, { mode: 0o644 });
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const ini = join(dir, 'pgbouncer.ini');
    writeFileSync(
      ini,
      [
        '[databases]',
        `* = host=${server.hostname} port=${server.port || 5432}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        'auth_type = trust',
        `auth_file = ${userlist}`,
        'pool_mode = transaction',
        `default_pool_size = ${options.poolSize ?? 5}`,
        'max_client_conn = 200',
      ].join('\n'),
      { mode: 0o644 },
    );
    const child = spawn(PGBOUNCER, [...(asRoot ? ['-u', 'nobody'] : []), ini], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // A test that timed out never reaches its stop(): PgBouncer must not outlive the test process.
    const killOnExit = () => child.kill('SIGTERM');
    process.once('exit', killOnExit);
    child.once('exit', () => process.off('exit', killOnExit));
    let log = '';
    const append = (chunk: Buffer) => {
      log += chunk.toString();
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    const stop = () =>
      new Promise<void>((resolve) => {
        if (exited(child)) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    const deadline = Date.now() + 10_000;
    while (!exited(child) && !(await accepts(port))) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`PgBouncer did not accept connections on port ${port} within 10 s:\n${log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (exited(child)) {
      // Another process took the port between our probe and PgBouncer's bind: another port.
      if (/Address already in use/.test(log) && attempt < 5) continue;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`PgBouncer exited (${child.exitCode ?? child.signalCode}):\n${log}`);
    }
    return {
      port,
      through: (url) => pointedAt(url, port),
      log: () => log,
      async stop() {
        await stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}
