import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  DataDirInUse,
  type DataDirOwner,
  lockDataDir,
  readDataDirOwner,
  runningServerOf,
} from '../../src/db/data-dir-lock.js';
import { openDatabase } from '../../src/db/database.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'billing-lock-'));
let dirs = 0;
const freshDir = () => join(scratch, `d${++dirs}`, 'pglite');
const holders: ChildProcess[] = [];

/** Another process holding `dataDir` (see test/support/hold-data-dir.ts); resolves once it holds it. */
async function holdInAnotherProcess(dataDir: string, role: string, url?: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/support/hold-data-dir.ts', dataDir, role, ...(url ? [url] : [])],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  holders.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('locked')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
  });
  return child;
}

const killed = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });

afterEach(() => {
  for (const child of holders.splice(0)) child.kill('SIGKILL');
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('one owner per data directory', () => {
  it('describes its owner in a file only the owner may read, and forgets it on release', async () => {
    const dataDir = freshDir();
    const lock = await lockDataDir(dataDir, 'server');
    lock.publish({ url: 'http://127.0.0.1:8000', admin_secret: 's3cret' });
    const file = `${dataDir}.owner.json`;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readDataDirOwner(dataDir)).toMatchObject({
      role: 'server',
      pid: process.pid,
      url: 'http://127.0.0.1:8000',
      admin_secret: 's3cret',
    });
    await lock.release();
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${dataDir}.lock`)).toBe(false);
    // Free again: it can be taken at once.
    await (await lockDataDir(dataDir, 'process', { waitMs: 0 })).release();
  });

  // "At once" is a state, not a time: refused without ever waiting (`onWait` is called when the
  // lock is not free and it decides to wait; a wait would end at the deadline, 15 s by default).
  it('refuses a second holder in this process at once, naming the first', async () => {
    const dataDir = freshDir();
    const lock = await lockDataDir(dataDir, 'admin-cli');
    const onWait = vi.fn();
    const second = lockDataDir(dataDir, 'server', { onWait });
    await expect(second).rejects.toBeInstanceOf(DataDirInUse);
    await expect(second).rejects.toThrow(
      `the embedded store at ${dataDir} is in use by the admin CLI (pid ${process.pid})`,
    );
    expect(onWait).not.toHaveBeenCalled();
    await lock.release();
  });

  it('refuses a live server in another process at once, with its pid and URL', async () => {
    const dataDir = freshDir();
    const server = await holdInAnotherProcess(dataDir, 'server', 'http://127.0.0.1:9999');
    const onWait = vi.fn();
    await expect(lockDataDir(dataDir, 'admin-cli', { onWait })).rejects.toThrow(
      `the embedded store at ${dataDir} is in use by the server (pid ${server.pid}, http://127.0.0.1:9999)`,
    );
    expect(onWait).not.toHaveBeenCalled();
    expect(runningServerOf(dataDir)?.pid).toBe(server.pid);
  }, 30_000);

  it('waits for an admin CLI to finish, then takes the directory', async () => {
    const dataDir = freshDir();
    const cli = await holdInAnotherProcess(dataDir, 'admin-cli');
    const onWait = vi.fn();
    const taking = lockDataDir(dataDir, 'server', { onWait });
    // Waiting, not refused: the CLI is let go only once the taker has said whom it waits for.
    await vi.waitFor(
      () => expect(onWait).toHaveBeenCalledWith(expect.objectContaining({ role: 'admin-cli', pid: cli.pid })),
      { timeout: 10_000, interval: 20 },
    );
    cli.kill('SIGTERM'); // proper-lockfile frees the lock on the way out
    const lock = await taking;
    expect(readDataDirOwner(dataDir)).toMatchObject({ role: 'server', pid: process.pid });
    await lock.release();
  }, 30_000);

  it('takes over the lock of a killed owner once it goes stale', async () => {
    const dataDir = freshDir();
    const server = await holdInAnotherProcess(dataDir, 'server', 'http://127.0.0.1:9999');
    const pid = server.pid;
    await killed(server); // SIGKILL: no exit handler runs, the lock and its description stay
    expect(existsSync(`${dataDir}.lock`)).toBe(true);
    expect(runningServerOf(dataDir)).toBeUndefined();
    const onWait = vi.fn();
    // With the default patience (a little over the stale time, LOCK_STALE_MS): a lock never taken
    // over would end it in DataDirInUse. That it waited, then took the lock, is the whole point;
    // how long after the kill the lock went stale is proper-lockfile's clock, not asserted here.
    const lock = await lockDataDir(dataDir, 'server', { onWait });
    expect(onWait).toHaveBeenCalledWith(expect.objectContaining({ pid }));
    expect(readDataDirOwner(dataDir)).toMatchObject({ pid: process.pid });
    await lock.release();
  }, 30_000);

  it('gives up after waitMs on a holder it cannot see die, naming it', async () => {
    const dataDir = freshDir();
    const cli = await holdInAnotherProcess(dataDir, 'admin-cli');
    await expect(lockDataDir(dataDir, 'server', { waitMs: 600 })).rejects.toThrow(
      `in use by the admin CLI (pid ${cli.pid})`,
    );
  }, 30_000);

  it('tells the holder when its lock is lost (here: the lock removed under it)', async () => {
    const dataDir = freshDir();
    const onLost = vi.fn();
    const lock = await lockDataDir(dataDir, 'server', { onLost });
    rmSync(`${dataDir}.lock`, { recursive: true });
    await vi.waitFor(() => expect(onLost).toHaveBeenCalledOnce(), { timeout: 8_000, interval: 100 });
    await lock.release(); // no longer ours: nothing to remove, no error
  }, 15_000);

  it('is taken by openDatabase on an embedded directory and released by close', async () => {
    const dataDir = freshDir();
    const first = await openDatabase({ dataDir });
    expect(readDataDirOwner(dataDir)).toMatchObject({ role: 'process', pid: process.pid });
    await expect(openDatabase({ dataDir })).rejects.toThrow(`the embedded store at ${dataDir} is in use`);
    await first.close();
    const second = await openDatabase({ dataDir });
    await second.close();
    expect(readDataDirOwner(dataDir)).toBeUndefined();
  }, 60_000);

  it('uses a lock it is given on the same directory, leaves it to its holder, and refuses one on another', async () => {
    const dataDir = freshDir();
    const lock = await lockDataDir(dataDir, 'server');
    try {
      const handle = await openDatabase({ dataDir, dataDirLock: lock });
      expect(readDataDirOwner(dataDir)).toMatchObject({ role: 'server', pid: process.pid });
      await handle.close();
      // Closing the database does not release the caller's lock.
      expect(readDataDirOwner(dataDir)).toMatchObject({ role: 'server' });
      const elsewhere = freshDir();
      mkdirSync(elsewhere, { recursive: true });
      await expect(openDatabase({ dataDir: elsewhere, dataDirLock: lock })).rejects.toThrow(
        `the lock given is on ${dataDir}, not on ${elsewhere}`,
      );
      expect(readDataDirOwner(elsewhere)).toBeUndefined();
    } finally {
      await lock.release();
    }
  }, 60_000);

  it('releases its own lock when the directory cannot be opened', async () => {
    const dataDir = freshDir();
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, 'PG_VERSION'), 'not a PostgreSQL data directory\n');
    await expect(openDatabase({ dataDir })).rejects.toThrow();
    expect(readDataDirOwner(dataDir)).toBeUndefined();
    const retaken = await lockDataDir(dataDir, 'process');
    await retaken.release();
  }, 60_000);

  it('counts a server as running only when it is on this host, alive, and not this process', async () => {
    const dataDir = freshDir();
    const lock = await lockDataDir(dataDir, 'server');
    const describeAs = (owner: Partial<DataDirOwner>) =>
      writeFileSync(
        `${dataDir}.owner.json`,
        JSON.stringify({ role: 'server', pid: process.ppid, host: hostname(), started_at: 'now', ...owner }),
      );
    try {
      describeAs({});
      expect(runningServerOf(dataDir)).toMatchObject({ role: 'server', pid: process.ppid });
      describeAs({ role: 'admin-cli' });
      expect(runningServerOf(dataDir)).toBeUndefined();
      // Its pids mean nothing here.
      describeAs({ host: 'another-host' });
      expect(runningServerOf(dataDir)).toBeUndefined();
      // In a container every server is pid 1: our own pid was a predecessor's.
      describeAs({ pid: process.pid });
      expect(runningServerOf(dataDir)).toBeUndefined();
      describeAs({ pid: 2 ** 22 + 1 }); // above Linux's pid_max: no such process
      expect(runningServerOf(dataDir)).toBeUndefined();
    } finally {
      await lock.release();
    }
    // The description stays, the lock is gone: nobody is running.
    writeFileSync(
      `${dataDir}.owner.json`,
      JSON.stringify({ role: 'server', pid: process.ppid, host: hostname() }),
    );
    expect(runningServerOf(dataDir)).toBeUndefined();
    expect(runningServerOf(join(scratch, 'never-created'))).toBeUndefined();
  });

  it('names whoever holds a directory: role, pid, host when it is another, URL', () => {
    const owner = { pid: 42, host: hostname(), started_at: 'now' };
    const inUse = (holder: DataDirOwner | undefined) => new DataDirInUse('/data/pglite', holder);
    expect(inUse(undefined)).toMatchObject({
      name: 'DataDirInUse',
      message: 'the embedded store at /data/pglite is in use by another process',
    });
    expect(inUse({ ...owner, role: 'server', url: 'http://127.0.0.1:8000' }).message).toBe(
      'the embedded store at /data/pglite is in use by the server (pid 42, http://127.0.0.1:8000)',
    );
    expect(inUse({ ...owner, role: 'admin-cli', host: 'box-2' }).message).toBe(
      'the embedded store at /data/pglite is in use by the admin CLI (pid 42 on box-2)',
    );
    expect(inUse({ ...owner, role: 'process' }).message).toBe(
      'the embedded store at /data/pglite is in use by another process (pid 42)',
    );
  });
});
