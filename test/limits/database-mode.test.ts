import { randomUUID } from 'node:crypto';
import { desc, eq } from 'drizzle-orm';
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBillingApp } from '../../src/app.js';
import { auditLog } from '../../src/db/schema.js';
import { openTestDatabase, STORE_KINDS, type TestDatabase } from '../support/test-store.js';
import { adminToken, workerToken } from '../support/tokens.js';

const WORKER_SECRET = 'worker-secret-for-database-mode-tests-0001';
const ADMIN_SECRET = 'admin-secret-for-database-mode-tests-00001';

describe.each(STORE_KINDS)('database plan source on %s', (kind) => {
  let database: TestDatabase;
  let app: Hono;
  let worker: string;
  let admin: string;
  beforeAll(async () => {
    database = await openTestDatabase(kind);
    app = createBillingApp({ secret: WORKER_SECRET, adminSecret: ADMIN_SECRET, store: database.store });
    worker = await workerToken(WORKER_SECRET);
    admin = await adminToken(ADMIN_SECRET);
  });
  afterAll(() => database?.close());

  const unique = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;
  const limitsOf = (tenantId: string, planType?: string) =>
    app.request('/billing/limits', {
      headers: {
        authorization: `Bearer ${worker}`,
        'tenant-id': tenantId,
        ...(planType ? { 'x-plan-type': planType } : {}),
      },
    });
  const limitsBody = async (tenantId: string) =>
    (
      (await (await limitsOf(tenantId)).json()) as {
        limits: { deployments: number | null; self_hosted_workers: number | null; plan_type: string };
      }
    ).limits;
  const adminCall = (method: string, path: string, body?: unknown, token = admin) =>
    app.request(path, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  const auditCount = async (subjectId: string) =>
    (await database.handle.db.select().from(auditLog).where(eq(auditLog.subjectId, subjectId))).length;

  describe('GET /billing/limits', () => {
    it('answers with the plan from the store, ignoring the plan the caller claims', async () => {
      const tenant = unique('org');
      await database.store.putTenant(tenant, { planId: 'growth' }, 'test');
      const res = await limitsOf(tenant, 'enterprise');
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(
        `{"tenant_id":"${tenant}","limits":{"deployments":5,"self_hosted_workers":null,"plan_type":"growth"}}`,
      );
    });

    it('applies the tenant’s overrides over its plan', async () => {
      const tenant = unique('org');
      await database.store.putTenant(
        tenant,
        { planId: 'free', overrides: { deployments: 4, self_hosted_workers: null } },
        'test',
      );
      expect(await (await limitsOf(tenant)).json()).toEqual({
        tenant_id: tenant,
        limits: { deployments: 4, self_hosted_workers: null, plan_type: 'free' },
      });
    });

    it('answers an unknown tenant with 404 Tenant not found, on REST and tRPC', async () => {
      const res = await limitsOf(unique('nobody'));
      expect(res.status).toBe(404);
      expect(await res.text()).toBe('{"detail":"Tenant not found"}');
      const input = encodeURIComponent(JSON.stringify({ tenantId: unique('nobody') }));
      const trpc = await app.request(`/trpc/billing.limits?input=${input}`, {
        headers: { authorization: `Bearer ${worker}` },
      });
      expect(trpc.status).toBe(404);
      expect(await trpc.json()).toMatchObject({
        error: { data: { httpStatus: 404, detail: 'Tenant not found' } },
      });
    });

    it('still checks the token before anything else', async () => {
      const res = await app.request('/billing/limits', { headers: { 'tenant-id': unique('nobody') } });
      expect(res.status).toBe(401);
    });
  });

  describe('admin API', () => {
    it('creates a tenant, shows it, and the limits change at once (no waiting for the cache TTL)', async () => {
      const tenant = unique('org');
      await database.store.putTenant(tenant, { planId: 'free' }, 'test');
      expect((await limitsBody(tenant)).deployments).toBe(1); // now cached
      const put = await adminCall('PUT', `/admin/tenants/${tenant}`, {
        plan_id: 'growth',
        customer_id: unique('cus'),
        overrides: { deployments: 10, self_hosted_workers: null },
      });
      expect(put.status).toBe(200);
      expect(await put.json()).toMatchObject({
        tenant_id: tenant,
        plan_id: 'growth',
        overrides: { deployments: 10, self_hosted_workers: null },
        limits: { deployments: 10, self_hosted_workers: null, plan_type: 'growth' },
      });
      expect(await limitsBody(tenant)).toEqual({
        deployments: 10,
        self_hosted_workers: null,
        plan_type: 'growth',
      });
      const shown = await adminCall('GET', `/admin/tenants/${tenant}`);
      expect(shown.status).toBe(200);
      expect(((await shown.json()) as { limits: { deployments: number } }).limits.deployments).toBe(10);
    });

    it('records the token’s subject as the actor, with before and after', async () => {
      const tenant = unique('org');
      await adminCall('PUT', `/admin/tenants/${tenant}`, { plan_id: 'free' });
      const [entry] = await database.handle.db
        .select()
        .from(auditLog)
        .where(eq(auditLog.subjectId, tenant))
        .orderBy(desc(auditLog.id));
      expect(entry).toMatchObject({ actor: 'alice', action: 'tenant.put', before: null });
    });

    it('drops overrides: the tenant inherits its plan again', async () => {
      const tenant = unique('org');
      await adminCall('PUT', `/admin/tenants/${tenant}`, { plan_id: 'free', overrides: { deployments: 3 } });
      expect((await limitsBody(tenant)).deployments).toBe(3);
      const res = await adminCall('DELETE', `/admin/tenants/${tenant}/overrides`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { overrides: unknown }).overrides).toEqual({});
      expect((await limitsBody(tenant)).deployments).toBe(1);
      expect((await adminCall('DELETE', `/admin/tenants/${unique('nobody')}/overrides`)).status).toBe(404);
    });

    it('changes a plan for all its tenants without a deploy', async () => {
      const tenant = unique('org');
      await adminCall('PUT', `/admin/tenants/${tenant}`, { plan_id: 'enterprise' });
      expect((await limitsBody(tenant)).deployments).toBeNull();
      const res = await adminCall('PUT', '/admin/plans/enterprise', {
        deployments: 500,
        self_hosted_workers: null,
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        plan_id: 'enterprise',
        deployments: 500,
        self_hosted_workers: null,
        soft_limits: {},
        orb_external_plan_id: 'enterprise',
      });
      expect((await limitsBody(tenant)).deployments).toBe(500);
      await adminCall('PUT', '/admin/plans/enterprise', { deployments: null, self_hosted_workers: null });
    });

    it('shows an unknown tenant as 404', async () => {
      const res = await adminCall('GET', `/admin/tenants/${unique('nobody')}`);
      expect(res.status).toBe(404);
      expect(await res.text()).toBe('{"detail":"Tenant not found"}');
    });
  });

  describe('admin API: bad input is a 422 and writes nothing', () => {
    const longId = 'x'.repeat(256);
    it.each([
      [
        'an unknown plan',
        'PUT',
        '/admin/plans/pro',
        { deployments: 1, self_hosted_workers: 1 },
        ['path', 'planId'],
        'enum',
      ],
      [
        'a negative limit',
        'PUT',
        '/admin/plans/free',
        { deployments: -1, self_hosted_workers: 1 },
        ['body', 'deployments'],
        'greater_than_equal',
      ],
      [
        'a fractional limit',
        'PUT',
        '/admin/plans/free',
        { deployments: 1.5, self_hosted_workers: 1 },
        ['body', 'deployments'],
        'int_type',
      ],
      [
        'a missing limit',
        'PUT',
        '/admin/plans/free',
        { deployments: 1 },
        ['body', 'self_hosted_workers'],
        'missing',
      ],
      [
        'an unknown key',
        'PUT',
        '/admin/plans/free',
        { deployments: 1, self_hosted_workers: 1, extra: 1 },
        ['body', 'extra'],
        'extra_forbidden',
      ],
      [
        'a tenant id over 255 characters',
        'PUT',
        `/admin/tenants/${longId}`,
        { plan_id: 'free' },
        ['path', 'tenantId'],
        'string_too_long',
      ],
      [
        'a tenant id with a control character',
        'PUT',
        '/admin/tenants/org%01x',
        { plan_id: 'free' },
        ['path', 'tenantId'],
        'string_pattern_mismatch',
      ],
      [
        'an unknown plan for a tenant',
        'PUT',
        '/admin/tenants/org-p',
        { plan_id: 'gold' },
        ['body', 'plan_id'],
        'enum',
      ],
      [
        'a negative override',
        'PUT',
        '/admin/tenants/org-p',
        { plan_id: 'free', overrides: { deployments: -2 } },
        ['body', 'overrides', 'deployments'],
        'greater_than_equal',
      ],
      ['a new customer without a plan', 'PUT', '/admin/tenants/org-q', {}, ['body', 'plan_id'], 'missing'],
      ['a body that is not JSON', 'PUT', '/admin/tenants/org-p', '{"plan_id":', ['body', 0], 'json_invalid'],
      ['a body that is a list', 'PUT', '/admin/tenants/org-p', '[1]', ['body'], 'model_attributes_type'],
      ['no body', 'PUT', '/admin/tenants/org-p', '', ['body'], 'missing'],
    ])('%s', async (_, method, path, body, loc, type) => {
      const res = await adminCall(method, path, body);
      expect(res.status).toBe(422);
      const { detail } = (await res.json()) as { detail: { loc: unknown[]; type: string }[] };
      expect(detail[0]).toMatchObject({ loc, type });
      expect(await auditCount('org-p')).toBe(0);
      expect(await auditCount('org-q')).toBe(0);
    });

    it('leaves the plan untouched after a refused update', async () => {
      await adminCall('PUT', '/admin/plans/free', { deployments: -1, self_hosted_workers: 1 });
      expect((await database.store.listPlans()).find((plan) => plan.id === 'free')).toMatchObject({
        deployments: 1,
        self_hosted_workers: 5,
      });
    });

    it('refuses a body over 64 KiB with 413', async () => {
      const res = await adminCall('PUT', '/admin/tenants/org-p', {
        plan_id: 'free',
        pad: 'x'.repeat(70_000),
      });
      expect(res.status).toBe(413);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/larger than 65536 bytes/);
    });

    it('checks the token before the body', async () => {
      const res = await app.request('/admin/tenants/org-p', { method: 'PUT', body: '{"plan_id":' });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    });
  });

  describe('admin and worker tokens are not interchangeable', () => {
    it('refuses a worker token on admin routes', async () => {
      const res = await adminCall('GET', '/admin/tenants/org-123', undefined, worker);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ detail: 'Invalid token. Error: Signature verification failed' });
    });

    it('refuses an admin token on worker routes', async () => {
      const res = await app.request('/billing/limits', {
        headers: { authorization: `Bearer ${admin}`, 'tenant-id': 'org-123' },
      });
      expect(res.status).toBe(401);
    });

    it('tells them apart by audience even when one secret signs both', async () => {
      const shared = createBillingApp({
        secret: WORKER_SECRET,
        adminSecret: WORKER_SECRET,
        store: database.store,
      });
      const workerOnAdmin = await shared.request('/admin/tenants/org-123', {
        headers: { authorization: `Bearer ${worker}` },
      });
      expect(await workerOnAdmin.json()).toEqual({ detail: "Invalid token. Error: Audience doesn't match" });
      const adminOnWorker = await shared.request('/billing/limits', {
        headers: { authorization: `Bearer ${await adminToken(WORKER_SECRET)}`, 'tenant-id': 'org-123' },
      });
      expect(await adminOnWorker.json()).toEqual({ detail: "Invalid token. Error: Audience doesn't match" });
    });

    it('hides the admin API (404) when BILLING_ADMIN_SECRET is not set', async () => {
      const noAdmin = createBillingApp({ secret: WORKER_SECRET, store: database.store });
      const res = await noAdmin.request('/admin/tenants/org-123', {
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(res.status).toBe(404);
      expect(await res.text()).toBe('{"detail":"Not Found"}');
    });
  });
});
