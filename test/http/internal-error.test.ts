import { describe, expect, it } from 'vitest';
import { createBillingApp } from '../../src/app.js';
import { DEFAULT_PLAN_CATALOG } from '../../src/domain/limits/catalog.js';
import { trpcPath, useHarness } from '../support/harness.js';

// A catalog the output schema refuses (a negative limit) makes the procedure fail after auth and input.
const brokenCatalog = { ...DEFAULT_PLAN_CATALOG, free: { deployments: -1, self_hosted_workers: 5 } };

describe('an unexpected failure', () => {
  const reported: unknown[] = [];
  const h = useHarness({
    config: { disableAuth: true },
    dependencies: { catalog: brokenCatalog },
    hooks: { onUnexpectedError: (error) => reported.push(error) },
  });

  it('answers REST callers 500 with a bare FastAPI body and reports the cause', async () => {
    reported.length = 0;
    const res = await h.request('/billing/limits', { headers: { 'tenant-id': 'org-1' } });
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(await res.text()).toBe('{"detail":"Internal Server Error"}');
    expect(reported).toHaveLength(1);
  });

  it('answers tRPC callers 500 without a stack trace or the validation details', async () => {
    reported.length = 0;
    const res = await h.request(trpcPath('billing.limits', { tenantId: 'org-1' }));
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('stack');
    expect(text).not.toContain('deployments');
    expect(JSON.parse(text)).toMatchObject({
      error: { message: 'Internal Server Error', data: { detail: 'Internal Server Error' } },
    });
    expect(reported).toHaveLength(1);
  });

  it('still answers the plans that are fine', async () => {
    const res = await h.request('/billing/limits', {
      headers: { 'tenant-id': 'org-1', 'x-plan-type': 'growth' },
    });
    expect(res.status).toBe(200);
  });
});

describe('requests outside the API', () => {
  const h = useHarness({ config: { disableAuth: true } });

  it('answers an unknown path with a FastAPI 404', async () => {
    const res = await h.request('/billing/limit');
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('{"detail":"Not Found"}');
  });

  it('requires a secret unless authentication is disabled', () => {
    expect(() => createBillingApp({})).toThrow(
      'createBillingApp: a worker-token secret (config.jwtSecret) is required unless disableAuth is set',
    );
  });
});
