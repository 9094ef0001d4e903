/**
 * PostgreSQL behind Debian's PgBouncer (1.18) in transaction mode, for real: a LISTEN through it
 * hears nothing, a session advisory lock outlives its client, and prepared statements land on
 * server connections that do not have them. The service through it: migrations, replicas that
 * hear each other through BILLING_LISTEN_DATABASE_URL, exact grants, and the TTL-only fallback.
 */
import { randomBytes, randomInt } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BillingLimitsResponse } from '../../src/contract/limits.js';
import { openDatabase } from '../../src/db/database.js';
import { openBillingStore } from '../../src/db/store.js';
import { createUsageStore } from '../../src/db/usage-store.js';
import type { LimitsChange } from '../../src/domain/limits/changes.js';
import { eventuallyReads } from '../support/eventually.js';
import {
  ADMIN_SECRET,
  adminToken,
  createHarness,
  STORE_KINDS,
  unique,
  useHarness,
  WORKER_SECRET,
  workerToken,
} from '../support/harness.js';
import { CHECKED_IN_MIGRATIONS } from '../support/migrations.js';
import { PGBOUNCER_MISSING, type PgBouncer, startPgBouncer } from '../support/pgbouncer.js';
import { parsePrometheus, sampleSum } from '../support/prometheus.js';
import { type RunningServer, runServerToExit, spawnServer } from '../support/spawn-server.js';

/** Another database on the same server as `url`. */
function databaseUrl(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/** Resolves what `work` resolves, or `'no answer'` after `ms`. */
function answerWithin<T>(work: Promise<T>, ms: number): Promise<T | 'no answer'> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'no answer'>((resolve) => {
    timer = setTimeout(resolve, ms, 'no answer');
  });
  return Promise.race([work, timedOut]).finally(() => clearTimeout(timer));
}

describe.runIf(STORE_KINDS.includes('postgres'))('PostgreSQL through PgBouncer in transaction mode', () => {
  if (PGBOUNCER_MISSING) {
    it.skip(PGBOUNCER_MISSING, () => {});
    return;
  }
  const h = useHarness({ store: 'postgres' });
  let bouncer: PgBouncer;
  /** The harness's database, directly and through PgBouncer. */
  let direct = '';
  let pooled = '';

  beforeAll(async () => {
    bouncer = await startPgBouncer(h.database.url ?? '');
    direct = h.database.url ?? '';
    pooled = bouncer.through(direct);
  });
  afterAll(async () => {
    await bouncer?.stop();
  });

  describe('what PgBouncer does to session state', () => {
    it('lets a LISTEN succeed and hear nothing: the store falls back to TTL-only invalidation', async () => {
      const throughPgBouncer = await openBillingStore({ url: pooled, prepare: false });
      const directly = await openBillingStore({ url: direct });
      try {
        expect(throughPgBouncer.invalidation).toBe('ttl');
        expect(directly.invalidation).toBe('notify');
      } finally {
        await Promise.all([throughPgBouncer.close(), directly.close()]);
      }
    });

    it('hears every write through PgBouncer when it LISTENs on a direct connection', async () => {
      const writer = await openBillingStore({ url: pooled, prepare: false });
      const reader = await openBillingStore({ url: pooled, listenUrl: direct, prepare: false });
      try {
        expect(reader.invalidation).toBe('notify');
        const tenant = unique('org');
        const heard = new Promise<LimitsChange>((resolve) => reader.subscribe(resolve));
        await writer.tenants.putTenant(tenant, { plan_id: 'free' }, 'test');
        // A deadline to stop waiting, not a speed test: a LISTEN through PgBouncer would never hear it.
        expect(await answerWithin(heard, 10_000)).toEqual({ tenants: [tenant] });
      } finally {
        await Promise.all([writer.close(), reader.close()]);
      }
    });

    it('keeps a session advisory lock on a pooled server connection after its client is gone (why migrations lock per transaction)', async () => {
      const key = randomInt(1, 2 ** 31 - 1);
      const client = postgres(pooled, { max: 1, prepare: false, fetch_types: false, onnotice: () => {} });
      await client`select pg_advisory_lock(${key})`;
      await client.end();
      const check = postgres(direct, { max: 1, onnotice: () => {} });
      try {
        const [row] = await check<{ locked: boolean }[]>`select pg_try_advisory_lock(${key}) as locked`;
        expect(row?.locked).toBe(false);
      } finally {
        await check.end();
      }
    });

    it('migrates an empty database through PgBouncer, replicas starting together taking turns', async () => {
      const server = postgres(direct, { max: 1, onnotice: () => {} });
      const name = `billing_pgbouncer_${randomBytes(6).toString('hex')}`;
      await server.unsafe(`create database ${name}`);
      try {
        const url = bouncer.through(databaseUrl(direct, name));
        const replicas = await Promise.all(
          [1, 2, 3].map(() => openDatabase({ url, prepare: false, maxConnections: 1 })),
        );
        try {
          for (const replica of replicas) expect(await replica.pendingMigrations()).toBe(0);
        } finally {
          await Promise.all(replicas.map((replica) => replica.close()));
        }
        const check = postgres(databaseUrl(direct, name), { max: 1, onnotice: () => {} });
        try {
          const applied = await check`select hash from drizzle.__drizzle_migrations`;
          expect(applied).toHaveLength(CHECKED_IN_MIGRATIONS);
          expect(new Set(applied.map((row) => row['hash'])).size).toBe(CHECKED_IN_MIGRATIONS);
        } finally {
          await check.end();
        }
      } finally {
        await server.unsafe(`drop database if exists ${name} with (force)`);
        await server.end();
      }
    }, 60_000);

    it('breaks prepared statements (PgBouncer 1.18 cannot keep them): BILLING_DATABASE_PREPARE=false is needed', async () => {
      // A database of its own: PgBouncer's pool for it starts with the one server connection that
      // migrates it, so which connection each step lands on is known.
      const own = await createHarness({ store: 'postgres' });
      const url = bouncer.through(own.database.url ?? '');
      const tenant = await own.tenant('enterprise');
      const outcomes = async (prepare: boolean) => {
        const replica = await openDatabase({ url, maxConnections: 1, prepare });
        const usage = createUsageStore(replica.db);
        const reserve = () =>
          usage.reserve(tenant, {
            resource: 'deployments',
            quantity: 1,
            idempotencyKey: unique('key'),
            fingerprint: 'fingerprint',
            reference: undefined,
          });
        const other = postgres(url, { max: 1, prepare: false, fetch_types: false, onnotice: () => {} });
        let finish = () => {};
        try {
          // Prepared (when it prepares) on the pool's only server connection…
          expect((await reserve()).kind).toBe('granted');
          // …which another client's transaction now holds: the next calls run on another one.
          const holding = new Promise<void>((resolve) => {
            other
              .begin(async (tx) => {
                await tx.unsafe('select 1');
                resolve();
                await new Promise<void>((release) => {
                  finish = release;
                });
              })
              .catch(() => {});
          });
          await holding;
          // Calls queued behind a statement PgBouncer lost never answer: the wait for them has to end.
          // Without prepared statements every call must be granted: a deadline far past any answer on
          // a loaded machine, so slowness is never read as a hang.
          const calls = [1, 2, 3].map(() =>
            answerWithin(reserve(), prepare ? 3_000 : 15_000).then(
              (outcome) => (outcome === 'no answer' ? outcome : outcome.kind),
              (error: unknown) => String((error as { cause?: Error }).cause?.message ?? error),
            ),
          );
          return await Promise.all(calls);
        } finally {
          finish();
          await other.end({ timeout: 5 });
          await replica.close();
        }
      };

      const prepared = await outcomes(true);
      // postgres.js prepares again after "does not exist" (SQLSTATE 26000), but the calls already
      // sent behind it on the same connection never get an answer.
      expect(prepared.filter((outcome) => outcome === 'granted').length).toBeLessThan(3);
      for (const outcome of prepared) {
        expect(outcome).toMatch(/^(granted|no answer|prepared statement ".+" does not exist)$/);
      }
      expect(await outcomes(false)).toEqual(['granted', 'granted', 'granted']);
    }, 60_000);
  });

  describe('the service through PgBouncer', () => {
    const serverEnv = (databaseUrlSetting: string, more: Record<string, string> = {}) => ({
      DATABASE_URL: databaseUrlSetting,
      BILLING_DATABASE_PREPARE: 'false',
      BILLING_JWT_SECRET: WORKER_SECRET,
      BILLING_ADMIN_SECRET: ADMIN_SECRET,
      BILLING_CACHE_TTL_MS: '3600000',
      ...more,
    });
    const originOf = (server: RunningServer) =>
      /listening on (http:\/\/\S+)/.exec(server.output())?.[1] ?? '';
    const invalidationModes = async (server: RunningServer) => {
      const samples = parsePrometheus(await (await fetch(`${originOf(server)}/metrics`)).text());
      return {
        notify: sampleSum(samples, 'billing_invalidation_mode', { mode: 'notify' }),
        ttl: sampleSum(samples, 'billing_invalidation_mode', { mode: 'ttl' }),
      };
    };
    const warningsOf = (server: RunningServer) =>
      server
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: number | string; msg: string })
        .filter((line) => line.level === 40 || line.level === 'warn');

    describe('two replicas, LISTEN on BILLING_LISTEN_DATABASE_URL', () => {
      let replicas: RunningServer[] = [];
      const as = async (role: 'worker' | 'admin') =>
        `Bearer ${role === 'worker' ? await workerToken() : await adminToken()}`;
      const putTenant = async (server: RunningServer, tenant: string, body: unknown) => {
        const res = await fetch(`${originOf(server)}/admin/tenants/${tenant}`, {
          method: 'PUT',
          headers: { authorization: await as('admin'), 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        expect(res.status).toBe(200);
      };

      beforeAll(async () => {
        replicas = await Promise.all(
          [1, 2].map(() =>
            spawnServer(serverEnv(pooled, { BILLING_LISTEN_DATABASE_URL: direct }), undefined, 60_000),
          ),
        );
      }, 90_000);
      afterAll(async () => {
        await Promise.all(replicas.map((replica) => replica.stop()));
      });

      // "Within a second" is the product's promise, measured by scripts/bench/propagation.ts; here:
      // the write arrives through the direct LISTEN at all, not after the hour-long TTL.
      it('serves an admin write on one from the other, notified through the direct LISTEN', async () => {
        const [a, b] = replicas;
        if (!a || !b) throw new Error('two replicas');
        for (const replica of replicas) {
          expect(replica.output()).toContain(
            'Cache invalidation: notify (LISTEN on BILLING_LISTEN_DATABASE_URL)',
          );
          expect(await invalidationModes(replica)).toEqual({ notify: 1, ttl: 0 });
        }
        const tenant = unique('org');
        await putTenant(a, tenant, { plan_id: 'free' });
        const deploymentsOnB = async () => {
          const res = await fetch(`${originOf(b)}/billing/limits`, {
            headers: { authorization: await as('worker'), 'tenant-id': tenant },
          });
          expect(res.status).toBe(200);
          return ((await res.json()) as BillingLimitsResponse).limits.deployments;
        };
        expect(await deploymentsOnB()).toBe(1); // B now holds the tenant for an hour
        await putTenant(a, tenant, { plan_id: 'free', overrides: { deployments: 42 } });
        await eventuallyReads(deploymentsOnB, 42);
      });

      it('grants exactly the limit of 200 concurrent reservations spread over both', async () => {
        const tenant = unique('org');
        await putTenant(replicas[0] as RunningServer, tenant, { plan_id: 'growth' });
        const worker = await as('worker');
        const statuses = await Promise.all(
          Array.from({ length: 200 }, async (_, i) => {
            const res = await fetch(`${originOf(replicas[i % 2] as RunningServer)}/billing/reservations`, {
              method: 'POST',
              headers: { authorization: worker, 'tenant-id': tenant, 'content-type': 'application/json' },
              body: JSON.stringify({ resource: 'deployments', idempotency_key: unique('key') }),
            });
            await res.arrayBuffer();
            return res.status;
          }),
        );
        expect(statuses.filter((status) => status === 201)).toHaveLength(5); // growth: 5 deployments
        expect(statuses.filter((status) => status === 409)).toHaveLength(195);
        expect((await h.store.usage.usage(tenant))?.used.deployments).toBe(5);
      }, 60_000);
    });

    it('without BILLING_LISTEN_DATABASE_URL: warns at start-up and invalidates by TTL only', async () => {
      const server = await spawnServer(serverEnv(pooled), undefined, 60_000);
      try {
        expect(warningsOf(server)).toEqual([
          expect.objectContaining({
            msg: expect.stringContaining(
              'LISTEN on DATABASE_URL did not hear its own NOTIFY within 1 s (a transaction-mode pooler such as PgBouncer?)',
            ),
          }),
        ]);
        expect(server.output()).toContain('Cache invalidation: TTL only (3600000 ms)');
        expect(await invalidationModes(server)).toEqual({ notify: 0, ttl: 1 });
      } finally {
        expect(await server.stop()).toBe(0);
      }
    }, 60_000);

    it('directly on PostgreSQL: no warning, notifications on', async () => {
      const server = await spawnServer(serverEnv(direct), undefined, 60_000);
      try {
        expect(warningsOf(server)).toEqual([]);
        expect(server.output()).toContain('Cache invalidation: notify (LISTEN on DATABASE_URL)');
        expect(await invalidationModes(server)).toEqual({ notify: 1, ttl: 0 });
      } finally {
        expect(await server.stop()).toBe(0);
      }
    }, 60_000);

    it('refuses to start, in one line, when BILLING_LISTEN_DATABASE_URL cannot be reached', async () => {
      const unreachable = 'postgres://postgres@127.0.0.1:1/billing';
      const { code, stderr } = await runServerToExit(
        serverEnv(pooled, { BILLING_LISTEN_DATABASE_URL: unreachable }),
        60_000,
      );
      expect(code).toBe(1);
      expect(stderr.trim()).toBe(
        'cannot open PostgreSQL at 127.0.0.1:1/billing to LISTEN: ECONNREFUSED (check BILLING_LISTEN_DATABASE_URL)',
      );
    }, 60_000);
  });
});
