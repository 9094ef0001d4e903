/**
 * Holds a data directory's lock in a process of its own, as a server or CLI would, until killed:
 * `node --import tsx test/support/hold-data-dir.ts <dir> <role> [url]`. Prints `locked` once held.
 */
import { lockDataDir, type OwnerRole } from '../../src/db/data-dir-lock.js';

const [dataDir = '', role = 'server', url] = process.argv.slice(2);
const lock = await lockDataDir(dataDir, role as OwnerRole);
if (url) lock.publish({ url });
process.stdout.write('locked\n');
setInterval(() => {}, 60_000);
