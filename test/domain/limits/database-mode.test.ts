import { desc, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { auditLog } from '../../../src/db/schema.js';
import {
  adminToken,
  createHarness,
  STORE_KINDS,
  trpcPath,
  unique,
  useHarness,
  WORKER_SECRET,
} from '../../support/harness.js';

describe.each(STORE_KINDS)('database plan source on %s', (kind) => {
  const h = useHarness({ store: kind });

  const adminCall = async (method: string, path: string, body?: unknown, token?: string) =>
    h.asAdmin(path, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  const auditCount = async (subjectId: string) =>
    (await h.db.select().from(auditLog).where(eq(auditLog.subjectId, subjectId))).length;

  describe('GET /billing/limits', () => {
    it('answers with the plan from the store, ignoring the plan the caller claims', async () => {
      const tenant = await h.tenant('growth');
      const res = await h.limitsOf(tenant, 'enterprise');
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(
        `{"tenant_id":"${tenant}","limits":{"deployments":5,"self_hosted_workers":null,"plan_type":"growth"}}`,
      );
    });

    it('applies the tenant’s overrides over its plan', async () => {
      const tenant = await h.tenant('free', { overrides: { deployments: 4, self_hosted_workers: null } });
      expect(await (await h.limitsOf(tenant)).json()).toEqual({
        tenant_id: tenant,
        limits: { deployments: 4, self_hosted_workers: null, plan_type: 'free' },
      });
    });

    it('answers an unknown tenant with 404 Tenant not found, on REST and tRPC', async () => {
      const res = await h.limitsOf(unique('nobody'));
      expect(res.status).toBe(404);
      expect(await res.text()).toBe('{"detail":"Tenant not found"}');
      const trpc = await h.asWorker(trpcPath('billing.limits', { tenantId: unique('nobody') }));
      expect(trpc.status).toBe(404);
      expect(await trpc.json()).toMatchObject({
        error: { data: { httpStatus: 404, detail: 'Tenant not found' } },
      });
    });

    it('still checks the token before anything else', async () => {
      const res = await h.request('/billing/limits', { headers: { 'tenant-id': unique('nobody') } });
      expect(res.status).toBe(401);
    });
  });

  describe('admin API', () => {
    it('creates a tenant, shows it, and the limits change at once (no waiting for the cache TTL)', async () => {
      const tenant = await h.tenant('free');
      expect((await h.limits(tenant)).deployments).toBe(1); // now cached
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
      expect(await h.limits(tenant)).toEqual({
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
      const [entry] = await h.db
        .select()
        .from(auditLog)
        .where(eq(auditLog.subjectId, tenant))
        .orderBy(desc(auditLog.id));
      expect(entry).toMatchObject({ actor: 'alice', action: 'tenant.put', before: null });
    });

    it('drops overrides: the tenant inherits its plan again', async () => {
      const tenant = unique('org');
      await adminCall('PUT', `/admin/tenants/${tenant}`, { plan_id: 'free', overrides: { deployments: 3 } });
      expect((await h.limits(tenant)).deployments).toBe(3);
      const res = await adminCall('DELETE', `/admin/tenants/${tenant}/overrides`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { overrides: unknown }).overrides).toEqual({});
      expect((await h.limits(tenant)).deployments).toBe(1);
      expect((await adminCall('DELETE', `/admin/tenants/${unique('nobody')}/overrides`)).status).toBe(404);
    });

    it('changes a plan for all its tenants without a deploy', async () => {
      // The catalog is every tenant's: this test changes it on a database of its own.
      const own = await createHarness({ store: kind });
      const tenant = unique('org');
      await own.asAdmin(`/admin/tenants/${tenant}`, {
        method: 'PUT',
        body: JSON.stringify({ plan_id: 'enterprise' }),
      });
      expect((await own.limits(tenant)).deployments).toBeNull();
      const res = await own.asAdmin('/admin/plans/enterprise', {
        method: 'PUT',
        body: JSON.stringify({ deployments: 500, self_hosted_workers: null }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        plan_id: 'enterprise',
        deployments: 500,
        self_hosted_workers: null,
        soft_limits: {},
        orb_external_plan_id: 'enterprise',
      });
      expect((await own.limits(tenant)).deployments).toBe(500);
      const catalog = await own.asAdmin('/admin/plans?ignored=1');
      expect(catalog.status).toBe(200);
      expect(await catalog.json()).toEqual([
        {
          plan_id: 'enterprise',
          deployments: 500,
          self_hosted_workers: null,
          soft_limits: {},
          orb_external_plan_id: 'enterprise',
          tenant_count: 1,
        },
        {
          plan_id: 'free',
          deployments: 1,
          self_hosted_workers: 5,
          soft_limits: {},
          orb_external_plan_id: 'free',
          tenant_count: 0,
        },
        {
          plan_id: 'growth',
          deployments: 5,
          self_hosted_workers: null,
          soft_limits: {},
          orb_external_plan_id: 'growth',
          tenant_count: 0,
        },
      ]);
    });

    it('shows an unknown tenant as 404', async () => {
      const res = await adminCall('GET', `/admin/tenants/${unique('nobody')}`);
      expect(res.status).toBe(404);
      expect(await res.text()).toBe('{"detail":"Tenant not found"}');
    });
  });

  describe('admin API: bad input is a 422 and writes nothing', () => {
    // Tenants no test creates: every request about them is refused.
    const orgP = unique('org-p');
    const orgQ = unique('org-q');
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
        `/admin/tenants/${orgP}`,
        { plan_id: 'gold' },
        ['body', 'plan_id'],
        'enum',
      ],
      [
        'a negative override',
        'PUT',
        `/admin/tenants/${orgP}`,
        { plan_id: 'free', overrides: { deployments: -2 } },
        ['body', 'overrides', 'deployments'],
        'greater_than_equal',
      ],
      ['a new customer without a plan', 'PUT', `/admin/tenants/${orgQ}`, {}, ['body', 'plan_id'], 'missing'],
      [
        'a body that is not JSON',
        'PUT',
        `/admin/tenants/${orgP}`,
        '{"plan_id":',
        ['body', 0],
        'json_invalid',
      ],
      ['a body that is a list', 'PUT', `/admin/tenants/${orgP}`, '[1]', ['body'], 'model_attributes_type'],
      ['no body', 'PUT', `/admin/tenants/${orgP}`, '', ['body'], 'missing'],
    ])('%s', async (_, method, path, body, loc, type) => {
      const res = await adminCall(method, path, body);
      expect(res.status).toBe(422);
      const { detail } = (await res.json()) as { detail: { loc: unknown[]; type: string }[] };
      expect(detail[0]).toMatchObject({ loc, type });
      expect(await auditCount(orgP)).toBe(0);
      expect(await auditCount(orgQ)).toBe(0);
    });

    it('leaves the plan untouched after a refused update', async () => {
      await adminCall('PUT', '/admin/plans/free', { deployments: -1, self_hosted_workers: 1 });
      expect((await h.store.tenants.listPlans()).find((plan) => plan.plan_id === 'free')).toMatchObject({
        deployments: 1,
        self_hosted_workers: 5,
      });
    });

    it('refuses a body over 64 KiB with 413', async () => {
      const res = await adminCall('PUT', `/admin/tenants/${orgP}`, {
        plan_id: 'free',
        pad: 'x'.repeat(70_000),
      });
      expect(res.status).toBe(413);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/larger than 65536 bytes/);
    });

    it('checks the token before the body', async () => {
      const res = await h.request(`/admin/tenants/${orgP}`, { method: 'PUT', body: '{"plan_id":' });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    });
  });

  describe('admin and worker tokens are not interchangeable', () => {
    it('refuses a worker token on admin routes', async () => {
      const res = await adminCall(
        'GET',
        `/admin/tenants/${await h.tenant('free')}`,
        undefined,
        await h.workerToken(),
      );
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ detail: 'Invalid token. Error: Signature verification failed' });
    });

    it('refuses an admin token on worker routes', async () => {
      const res = await h.request('/billing/limits', {
        headers: { authorization: `Bearer ${await h.adminToken()}`, 'tenant-id': await h.tenant('free') },
      });
      expect(res.status).toBe(401);
    });

    it('tells them apart by audience even when one secret signs both', async () => {
      const shared = h.withApp({ config: { adminSecret: WORKER_SECRET } });
      const tenant = await h.tenant('free');
      const workerOnAdmin = await shared.asWorker(`/admin/tenants/${tenant}`);
      expect(await workerOnAdmin.json()).toEqual({ detail: "Invalid token. Error: Audience doesn't match" });
      const adminOnWorker = await shared.request('/billing/limits', {
        headers: {
          authorization: `Bearer ${await adminToken({ secret: WORKER_SECRET })}`,
          'tenant-id': tenant,
        },
      });
      expect(await adminOnWorker.json()).toEqual({ detail: "Invalid token. Error: Audience doesn't match" });
    });

    it('hides the admin API (404) when BILLING_ADMIN_SECRET is not set', async () => {
      const noAdmin = h.withApp({ config: { adminSecret: undefined } });
      const res = await noAdmin.asAdmin(`/admin/tenants/${await h.tenant('free')}`);
      expect(res.status).toBe(404);
      expect(await res.text()).toBe('{"detail":"Not Found"}');
    });
  });
});
