/**
 * A reservation that reaches the store after the caller's deadline is not granted, and the caller
 * is told so in the words the request observer uses for a late answer — `Request timed out` —
 * whichever of the two notices first, never `Limits store unavailable`.
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { reservation } from '../../../src/db/schema.js';
import { DomainError } from '../../../src/domain/errors.js';
import type { BillingStore } from '../../../src/domain/store.js';
import { createUsageService } from '../../../src/domain/usage/usage.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { type Harness, STORE_KINDS, useHarness } from '../../support/harness.js';

/**
 * The store as it is, reached only once the caller's deadline has passed on the wall clock — as
 * when the event loop is busy (two cores, a GC pause): the request observer's timer has not run
 * yet, so the store's own check is the first to notice.
 */
function reachedLate(store: BillingStore): BillingStore {
  return {
    ...store,
    usage: {
      ...store.usage,
      reserve(tenantId, request) {
        const { notAfter } = request;
        if (notAfter === undefined) throw new Error('the request has no deadline');
        // Event-loop lag, simulated: nothing else runs until the deadline has passed.
        while (Date.now() <= notAfter) {
          // busy: the point is that no timer can fire meanwhile
        }
        return store.usage.reserve(tenantId, request);
      },
    },
  };
}

describe.each(STORE_KINDS)('a missed deadline on %s', (kind) => {
  const h = useHarness({ store: kind });
  const reservations = (tenant: string) =>
    h.db.select().from(reservation).where(eq(reservation.organizationId, tenant));

  it('is a `deadline_exceeded` domain error ("Request timed out"), nothing recorded', async () => {
    const tenant = await h.tenant('growth');
    const service = createUsageService(h.store.usage, { catalog: h.store.tenants });
    const late = service.reserve(
      tenant,
      { resource: 'deployments', quantity: 1, idempotency_key: randomUUID() },
      { notAfter: Date.now() - 1 },
    );
    await expect(late).rejects.toBeInstanceOf(DomainError);
    await expect(late).rejects.toMatchObject({ code: 'deadline_exceeded', message: 'Request timed out' });
    expect(await reservations(tenant)).toEqual([]);
  });

  const lateApp = (): Harness =>
    h.withApp({ dependencies: { store: reachedLate(h.store) }, config: { requestTimeoutMs: 20 } });

  it('answers REST 503 {"detail":"Request timed out"} every time, granting nothing', async () => {
    const app = lateApp();
    const tenant = await h.tenant('growth');
    for (let i = 0; i < 5; i++) {
      const res = await app.asWorker('/billing/reservations', {
        method: 'POST',
        headers: { 'tenant-id': tenant, 'content-type': 'application/json' },
        body: JSON.stringify({ resource: 'deployments', idempotency_key: randomUUID() }),
      });
      expect(res.status).toBe(503);
      expect(await res.text()).toBe('{"detail":"Request timed out"}');
    }
    expect(await reservations(tenant)).toEqual([]);
  });

  it('is logged as a missed deadline, not as the store being unavailable', async () => {
    const lines: { level: string; msg: string }[] = [];
    const logger = createLogger({
      level: 'warn',
      destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
    });
    const app = h.withApp({
      dependencies: { store: reachedLate(h.store), logger },
      config: { requestTimeoutMs: 20 },
    });
    const tenant = await h.tenant('growth');
    // Whichever notices first — the observer's timer (no line: nothing failed) or the store's own
    // check (a warning) — the line never says the store is unavailable.
    for (let i = 0; i < 5; i++) {
      const res = await app.asWorker('/billing/reservations', {
        method: 'POST',
        headers: { 'tenant-id': tenant, 'content-type': 'application/json' },
        body: JSON.stringify({ resource: 'deployments', idempotency_key: randomUUID() }),
      });
      expect(res.status).toBe(503);
    }
    expect(lines.map((line) => line.msg).filter((msg) => msg !== 'request deadline missed')).toEqual([]);
  });

  it('answers /trpc 503 with the same detail', async () => {
    const app = lateApp();
    const tenant = await h.tenant('growth');
    const res = await app.asWorker('/trpc/billing.reserve', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenantId: tenant, resource: 'deployments', idempotency_key: randomUUID() }),
    });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({
      error: { message: 'Request timed out', data: { httpStatus: 503, detail: 'Request timed out' } },
    });
    expect(await reservations(tenant)).toEqual([]);
  });
});
