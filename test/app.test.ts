/** What `createBillingApp` assembles from its options, each app built inside its test. */
import { describe, expect, it } from 'vitest';
import { createBillingApp } from '../src/app.js';
import { createLogger } from '../src/telemetry/logger.js';
import { useHarness } from './support/harness.js';

const logger = createLogger({ level: 'silent' });

describe('createBillingApp', () => {
  const h = useHarness({ store: 'pglite' });

  it('refuses an Orb webhook secret without a store', () => {
    expect(() =>
      createBillingApp({
        config: { disableAuth: true, orbWebhookSecret: 'whsec' },
        dependencies: { logger },
      }),
    ).toThrow('createBillingApp: the Orb webhook needs a store');
  });

  it('answers workers without a token when authentication is off', async () => {
    const app = createBillingApp({ config: { disableAuth: true }, dependencies: { logger } });
    const res = await app.request('/billing/limits', { headers: { 'tenant-id': 'org-a' } });
    expect(res.status).toBe(200);
  });

  it('serves /metrics on the API port unless metrics have a port of their own', async () => {
    const shared = h.withApp({});
    expect((await shared.request('/metrics')).status).toBe(200);
    const apart = h.withApp({ config: { metricsPort: 9464 } });
    const res = await apart.request('/metrics');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ detail: 'Not Found' });
  });

  it('tells the operator, through warn, of a webhook it refused', async () => {
    const warnings: [string, Record<string, unknown>][] = [];
    const app = h.withApp({ hooks: { warn: (message, fields) => warnings.push([message, fields]) } });
    const res = await app.request('/webhooks/orb', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(400);
    expect(warnings).toEqual([['orb webhook refused', { reason: expect.any(String) }]]);
  });
});
