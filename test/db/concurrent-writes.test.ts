import { describe, expect, it } from 'vitest';
import { serializeError } from '../../src/telemetry/logger.js';
import { unique, useHarness } from '../support/harness.js';
import { orbDelivery, subscriptionEvent } from '../support/orb.js';

/**
 * First writes for a new customer, all at once: on PostgreSQL these deadlocked (40P01) and were
 * answered 503. Each round races 20 writers; 20 rounds, none may fail. (PGlite has one
 * connection: its writes never race.)
 */
const WRITERS = 20;
const ROUNDS = 20;

describe.runIf(process.env['TEST_DATABASE_URL'])('concurrent first writes on PostgreSQL', () => {
  const unexpected: unknown[] = [];
  const h = useHarness({
    store: 'postgres',
    hooks: { onUnexpectedError: (error) => unexpected.push(error) },
  });
  /** On a failure, what the failed writes threw (serialized as the log would show it). */
  const causes = () =>
    [...new Set(unexpected.map((e) => JSON.stringify(serializeError(e)).slice(0, 600)))].join(' | ');
  const race = (write: (writer: number) => Promise<Response>) =>
    Promise.all(Array.from({ length: WRITERS }, (_, writer) => write(writer).then((res) => res.status)));

  it('20 PUT /admin/tenants of one new tenant: every one answered 200, 20 times over', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const tenant = unique('org-race');
      const body = JSON.stringify({ plan_id: 'growth' });
      const statuses = await race(() => h.asAdmin(`/admin/tenants/${tenant}`, { method: 'PUT', body }));
      expect(statuses, `round ${round}: ${causes()}`).toEqual(Array(WRITERS).fill(200));
    }
  }, 180_000);

  it('20 Orb events for one unknown customer: every one answered 200, 20 times over', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const customer = unique('cus-race');
      const statuses = await race((writer) =>
        h.request(
          '/webhooks/orb',
          orbDelivery(
            subscriptionEvent({
              id: unique(`evt-${writer}`),
              type: 'subscription.plan_changed',
              customer,
              plan: writer % 2 ? 'growth' : 'enterprise',
            }),
          ),
        ),
      );
      expect(statuses, `round ${round}: ${causes()}`).toEqual(Array(WRITERS).fill(200));
    }
  }, 180_000);
});
