/** SIGTERM to `npm start` (a process of its own) while 16 clients keep it busy: nothing accepted fails. */
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { WORKER_SECRET, workerToken } from '../support/harness.js';
import { spawnServer } from '../support/spawn-server.js';

describe('SIGTERM under load (npm start in a process of its own)', () => {
  it('answers every request it accepted, then exits 0', async () => {
    const server = await spawnServer({ BILLING_JWT_SECRET: WORKER_SECRET, BILLING_SHUTDOWN_DELAY_MS: '300' });
    const origin = server.output().match(/listening on (\S+)/)?.[1] ?? '';
    const headers = { authorization: `Bearer ${await workerToken()}`, 'tenant-id': 'org-456' };
    const outcomes = new Map<number | string, number>();
    let answered = 0;
    let toldToLeave = 0;
    const MAX_PER_CLIENT = 5_000;

    // 16 clients sending one request after another, as a load balancer would route them: until the
    // replica says it is leaving (`Connection: close`, while /readyz says 503) or stops accepting.
    const clients = Array.from({ length: 16 }, async () => {
      for (let i = 0; i < MAX_PER_CLIENT; i++) {
        let outcome: number | string;
        let leaving = false;
        try {
          const res = await fetch(`${origin}/billing/limits`, { headers });
          await res.arrayBuffer();
          outcome = res.status;
          leaving = res.headers.get('connection') === 'close';
        } catch (error) {
          outcome = (error as { cause?: { code?: string } }).cause?.code ?? String(error);
        }
        if (outcome === 'ECONNREFUSED') break;
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        answered++;
        if (leaving) {
          toldToLeave++;
          break;
        }
      }
    });
    await eventually(() => answered >= 100, 30_000);
    const exited = server.stop(); // SIGTERM
    await Promise.all(clients);
    const code = await exited;

    expect([...outcomes.keys()]).toEqual([200]); // nothing failed: no 5xx, no reset connection
    expect(toldToLeave).toBeGreaterThan(0);
    expect(code).toBe(0);
    const log = server.output();
    expect(log).toContain('"msg":"shutting down"');
    expect(log).toContain('"msg":"stopped"');
  }, 60_000);
});
