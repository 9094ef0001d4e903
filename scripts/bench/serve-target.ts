/**
 * Child process of `npm run bench`: `tsx scripts/bench/serve-target.ts <target> <port>`. Serves one
 * target on 127.0.0.1, says `ready <port>` on stdout, answers `usage` messages with its CPU time
 * and store reads, and exits on SIGTERM/SIGINT or when the harness that forked it goes away.
 */
import { TARGETS } from './targets.js';

const [name, port] = process.argv.slice(2);
const target = TARGETS.find((candidate) => candidate.name === name);
if (!target || !port || !Number.isInteger(Number(port))) {
  console.error(`usage: serve-target.ts <${TARGETS.map((t) => t.name).join('|')}> <port>`);
  process.exit(2);
}

let storeReads = 0;
let cpuBase = process.cpuUsage();
let readsBase = 0;
process.on('message', (message) => {
  if (message === 'reset') {
    cpuBase = process.cpuUsage();
    readsBase = storeReads;
  } else if (message === 'usage') {
    const { user, system } = process.cpuUsage(cpuBase);
    process.send?.({ cpuMicros: user + system, storeReads: storeReads - readsBase });
  }
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
// A harness killed without a chance to stop its children closes the IPC channel: don't outlive it.
process.on('disconnect', () => process.exit(0));

await target.serve({
  port: Number(port),
  secret: process.env['BILLING_JWT_SECRET'] ?? '',
  databaseUrl: process.env['DATABASE_URL'],
  countStoreRead: () => {
    storeReads++;
  },
});
console.log(`ready ${port}`);
