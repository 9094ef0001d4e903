/**
 * The same idempotency key again answers the first answer — and says what became of the
 * reservation since (`released_at`), and that it is a replay (`Idempotent-Replayed: true`).
 */
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { BillingContext } from '../../../src/api/context.js';
import { createCaller } from '../../../src/api/router.js';
import { reservation } from '../../../src/db/schema.js';
import { createUsageService } from '../../../src/domain/usage/usage.js';
import { STORE_KINDS, useHarness } from '../../support/harness.js';

describe.each(STORE_KINDS)('replays on %s', (kind) => {
  const h = useHarness({ store: kind });
  const headers = (tenant: string) => ({ 'tenant-id': tenant, 'content-type': 'application/json' });
  const reserve = (tenant: string, body: object) =>
    h.asWorker('/billing/reservations', {
      method: 'POST',
      headers: headers(tenant),
      body: JSON.stringify(body),
    });
  const releasedAtOf = async (id: string) => {
    const [row] = await h.db.select().from(reservation).where(eq(reservation.id, id));
    if (!row?.releasedAt) throw new Error(`reservation ${id} is not released`);
    return row.releasedAt.toISOString();
  };

  it('answers the first grant with released_at null and no replay header', async () => {
    const tenant = await h.tenant('growth');
    const res = await reserve(tenant, {
      resource: 'deployments',
      quantity: 2,
      idempotency_key: randomUUID(),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    const text = await res.text();
    expect(text).toMatch(/,"overage":false,"released_at":null,"expires_at":null\}$/);
    expect(JSON.parse(text)).toEqual({
      reservation_id: expect.any(String),
      resource: 'deployments',
      quantity: 2,
      used: 2,
      limit: 5,
      remaining: 3,
      overage: false,
      released_at: null,
      expires_at: null,
    });
  });

  it('replays a held reservation byte for byte, with Idempotent-Replayed: true', async () => {
    const tenant = await h.tenant('growth');
    const body = { resource: 'deployments', idempotency_key: randomUUID() };
    const first = await (await reserve(tenant, body)).text();
    for (let i = 0; i < 2; i++) {
      const again = await reserve(tenant, body);
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(await again.text()).toBe(first);
    }
  });

  it('replays a released reservation as the first answer with its released_at, granting nothing', async () => {
    const tenant = await h.tenant('growth');
    const body = { resource: 'self_hosted_workers', quantity: 3, idempotency_key: randomUUID() };
    const first = (await (await reserve(tenant, body)).json()) as Record<string, unknown>;
    const id = String(first['reservation_id']);
    const released = await h.asWorker(`/billing/reservations/${id}`, {
      method: 'DELETE',
      headers: headers(tenant),
    });
    expect(released.status).toBe(204);
    expect(released.headers.get('idempotent-replayed')).toBeNull();

    const again = await reserve(tenant, body);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const releasedAt = await releasedAtOf(id);
    expect(releasedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(await again.text()).toBe(JSON.stringify({ ...first, released_at: releasedAt }));

    const usage = await h.asWorker('/billing/usage', { headers: headers(tenant) });
    expect(
      ((await usage.json()) as { usage: { self_hosted_workers: { used: number } } }).usage,
    ).toMatchObject({
      self_hosted_workers: { used: 0 },
    });
  });

  it('tells the domain’s caller (and a tRPC caller, through its context) that an answer is a replay', async () => {
    const tenant = await h.tenant('growth');
    const service = createUsageService(h.store.usage, { catalog: h.store.tenants });
    const input = { resource: 'deployments' as const, quantity: 1, idempotency_key: randomUUID() };
    const first = await service.reserve(tenant, input);
    expect(first).toMatchObject({ replayed: false, reservation: { released_at: null } });
    expect(await service.reserve(tenant, input)).toEqual({ ...first, replayed: true });

    const set: [string, string][] = [];
    const ctx: BillingContext = {
      authorization: `Bearer ${await h.workerToken()}`,
      deadline: undefined,
      setResponseHeader: (name, value) => set.push([name, value]),
      services: {
        authenticateWorker: async () => ({ sub: 'engine' }),
        limits: { mode: 'database', answer: () => Promise.reject(new Error('unused')), apply: () => {} },
        recordLimitCheck: () => {},
        usage: service,
      },
    };
    const viaTrpc = await createCaller(ctx).billing.reserve({ tenantId: tenant, ...input });
    expect(viaTrpc).toEqual(first.reservation);
    expect(set).toEqual([['Idempotent-Replayed', 'true']]);
  });
});
