import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';

/**
 * One process per PGlite data directory. PGlite is PostgreSQL in a single process: two processes
 * that open one directory each keep their own copy in memory, and the last to write its files
 * wins — an admin write made beside a running server was silently lost that way. So opening a
 * directory takes an exclusive lock (proper-lockfile: an atomic `mkdir` of `<dir>.lock`, its mtime
 * refreshed while the owner lives), and the owner describes itself in `<dir>.owner.json` so that
 * the next process can name it, or reach it (a server's URL).
 */

/** Who holds a data directory, as written beside its lock. */
export interface DataDirOwner {
  role: OwnerRole;
  pid: number;
  host: string;
  started_at: string;
  /** A server's origin, once it listens. */
  url?: string;
  /**
   * A development server's generated secrets, for the admin CLI beside it. The file is the
   * owner's alone (mode 0600), and whoever can read it can read and write the database files
   * anyway: it grants nothing its reader lacks. Production servers never generate secrets.
   */
  admin_secret?: string;
  jwt_secret?: string;
}

export type OwnerRole = 'server' | 'admin-cli' | 'process';

/** A live owner keeps the lock's mtime fresher than this; a dead one's lock is taken over after it. */
export const LOCK_STALE_MS = 10_000;
const LOCK_UPDATE_MS = 2_000;
const RETRY_MS = 250;
/** Directories this process holds (real paths): asked again, it is refused at once, not after a wait. */
const heldHere = new Set<string>();

export interface DataDirLock {
  readonly dataDir: string;
  /** Adds what others may need to reach the owner (a server's URL, generated secrets). */
  publish(details: Pick<DataDirOwner, 'url' | 'admin_secret' | 'jwt_secret'>): void;
  release(): Promise<void>;
}

export class DataDirInUse extends Error {
  override readonly name = 'DataDirInUse';
  constructor(
    readonly dataDir: string,
    /** Unknown when the owner had not described itself yet. */
    readonly holder: DataDirOwner | undefined,
  ) {
    super(`the embedded store at ${dataDir} is in use by ${describeOwner(holder)}`);
  }
}

const ROLE_WORDS: Record<OwnerRole, string> = {
  server: 'the server',
  'admin-cli': 'the admin CLI',
  process: 'another process',
};

function describeOwner(owner: DataDirOwner | undefined): string {
  if (!owner) return 'another process';
  const where = [`pid ${owner.pid}`];
  if (owner.host !== hostname()) where[0] += ` on ${owner.host}`;
  if (owner.url) where.push(owner.url);
  return `${ROLE_WORDS[owner.role]} (${where.join(', ')})`;
}

const ownerFileOf = (dataDir: string) => `${dataDir}.owner.json`;

/** The owner a data directory's file names, if any (it may be stale: only the lock is authoritative). */
export function readDataDirOwner(dataDir: string): DataDirOwner | undefined {
  try {
    return JSON.parse(readFileSync(ownerFileOf(dataDir), 'utf8')) as DataDirOwner;
  } catch {
    return undefined;
  }
}

/** The server holding a data directory now, as it describes itself; undefined when none does. */
export function runningServerOf(dataDir: string): DataDirOwner | undefined {
  const owner = readDataDirOwner(dataDir);
  if (owner?.role !== 'server' || livenessOf(owner) !== 'alive') return undefined;
  try {
    return lockfile.checkSync(dataDir, { stale: LOCK_STALE_MS }) ? owner : undefined;
  } catch {
    return undefined; // no such directory
  }
}

/** Alive, dead, or unknown (another host: its pids mean nothing here). */
function livenessOf(owner: DataDirOwner): 'alive' | 'dead' | 'unknown' {
  if (owner.host !== hostname()) return 'unknown';
  // In a container every server is pid 1: a file naming our own pid (for a directory we do not
  // hold, see `heldHere`) was left by a predecessor.
  if (owner.pid === process.pid) return 'dead';
  try {
    process.kill(owner.pid, 0);
    return 'alive';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? 'alive' : 'dead';
  }
}

export interface LockOptions {
  /**
   * How long to wait for an owner that is not a live server: a dead owner's lock until it goes
   * stale, an admin CLI until its command ends. Default: a little over the stale time.
   */
  waitMs?: number;
  /** Called once when the lock is not free at once, with whoever holds it. */
  onWait?: (holder: DataDirOwner | undefined) => void;
  /**
   * The lock was lost while held (its mtime could not be refreshed in time, or another process
   * took it over): this process must stop using the directory. Default: throw, ending the process.
   */
  onLost?: (error: Error) => void;
}

/**
 * Takes a data directory (creating it and its parents) for this process, or throws `DataDirInUse` naming
 * its owner. A live server is refused at once; otherwise this waits for the lock to be freed or
 * to go stale (a killed owner), up to `waitMs`.
 */
export async function lockDataDir(
  dataDir: string,
  role: OwnerRole,
  options: LockOptions = {},
): Promise<DataDirLock> {
  mkdirSync(dataDir, { recursive: true });
  const deadline = Date.now() + (options.waitMs ?? LOCK_STALE_MS + 5_000);
  const onLost =
    options.onLost ??
    ((error: Error) => {
      throw error;
    });
  let waited = false;
  for (;;) {
    try {
      const unlock = await lockfile.lock(dataDir, {
        stale: LOCK_STALE_MS,
        update: LOCK_UPDATE_MS,
        onCompromised: onLost,
      });
      return holding(dataDir, role, unlock);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
    }
    const holder = readDataDirOwner(dataDir);
    if (heldHere.has(realpathSync(dataDir))) throw new DataDirInUse(dataDir, holder);
    const liveness = holder ? livenessOf(holder) : 'unknown';
    if ((holder?.role === 'server' && liveness === 'alive') || Date.now() >= deadline) {
      throw new DataDirInUse(dataDir, liveness === 'dead' ? undefined : holder);
    }
    if (!waited) options.onWait?.(holder);
    waited = true;
    await sleep(RETRY_MS);
  }
}

function holding(dataDir: string, role: OwnerRole, unlock: () => Promise<void>): DataDirLock {
  const file = ownerFileOf(dataDir);
  const realPath = realpathSync(dataDir);
  heldHere.add(realPath);
  let owner: DataDirOwner = {
    role,
    pid: process.pid,
    host: hostname(),
    started_at: new Date().toISOString(),
  };
  const write = () => {
    // Written whole and renamed into place: a reader never sees half a file. 0600: see `admin_secret`.
    const staging = `${file}.${randomUUID()}`;
    writeFileSync(staging, `${JSON.stringify(owner, null, 2)}\n`, { mode: 0o600 });
    renameSync(staging, file);
  };
  const forget = () => {
    const current = readDataDirOwner(dataDir);
    if (current?.pid === owner.pid && current.started_at === owner.started_at) rmSync(file, { force: true });
  };
  // proper-lockfile removes the lock itself on exit; the description goes with it.
  process.once('exit', forget);
  write();
  let released = false;
  return {
    dataDir,
    publish(details) {
      owner = { ...owner, ...details };
      write();
    },
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(realPath);
      process.removeListener('exit', forget);
      forget();
      await unlock().catch((error: NodeJS.ErrnoException) => {
        // A lock lost while held (`onLost`) is no longer ours to remove.
        if (error.code !== 'ERELEASED' && error.code !== 'ENOTACQUIRED') throw error;
      });
    },
  };
}
