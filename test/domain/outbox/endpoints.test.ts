import { describe, expect, it } from 'vitest';
import type { PagePosition } from '../../../src/contract/cursor.js';
import { DomainError } from '../../../src/domain/errors.js';
import { createWebhookEndpoints } from '../../../src/domain/outbox/endpoints.js';
import type {
  NewWebhookEndpoint,
  OutboxStore,
  RedeliverResult,
  WebhookDeliveriesPage,
  WebhookEndpointRecord,
} from '../../../src/domain/outbox/outbox-store.js';

const ENDPOINT_ID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const DELIVERY_ID = '7c9e6679-7425-40de-944b-e07fc1f90ae7';

const record = ({ url, events, description }: Omit<NewWebhookEndpoint, 'secret'>): WebhookEndpointRecord => ({
  id: ENDPOINT_ID,
  url,
  events,
  description,
  createdAt: new Date('2026-12-03T12:00:00Z'),
  disabledAt: null,
  disabledReason: null,
});

/** An outbox store knowing one endpoint (unless told otherwise), recording every call. */
function fakeStore(fields: { known?: boolean; redeliver?: RedeliverResult; failure?: unknown } = {}) {
  const { known = true, redeliver = 'redelivered', failure } = fields;
  const calls: { method: keyof OutboxStore; args: unknown[] }[] = [];
  const page: WebhookDeliveriesPage = { deliveries: [], next: null };
  const endpoint = record({ url: 'https://hooks.example.com/a', events: null, description: '' });
  const answer =
    <A extends unknown[], T>(method: keyof OutboxStore, value: (...args: A) => T) =>
    async (...args: A): Promise<T> => {
      calls.push({ method, args });
      if (failure !== undefined) throw failure;
      return value(...args);
    };
  const store: OutboxStore = {
    createEndpoint: answer('createEndpoint', (created: NewWebhookEndpoint) => record(created)),
    listEndpoints: answer('listEndpoints', () => [endpoint]),
    findEndpoint: answer('findEndpoint', (id: string) =>
      known && id === ENDPOINT_ID ? endpoint : undefined,
    ),
    deleteEndpoint: answer('deleteEndpoint', (id: string) => known && id === ENDPOINT_ID),
    listDeliveries: answer('listDeliveries', () => page),
    redeliver: answer('redeliver', () => redeliver),
    claimDue: answer('claimDue', () => []),
    finishAttempt: answer('finishAttempt', () => false),
    nextDueInMs: answer('nextDueInMs', () => undefined),
    pendingCount: answer('pendingCount', () => 0),
    pruneEvents: answer('pruneEvents', () => 0),
    limitsChangesAfter: answer('limitsChangesAfter', () => []),
    limitsChangesPosition: answer('limitsChangesPosition', () => ({ newest: 0, prunedThrough: 0 })),
  };
  return { store, calls, endpoint, page };
}

function endpointsOn(fake: ReturnType<typeof fakeStore>, problem?: string) {
  const checked: string[] = [];
  let wakes = 0;
  const endpoints = createWebhookEndpoints({
    store: fake.store,
    urlProblem: async (url) => {
      checked.push(url);
      return problem;
    },
    wake: () => {
      wakes++;
    },
  });
  return { endpoints, checked, wakes: () => wakes };
}

/** The DomainError `promise` rejects with (failing the test when it does not reject with one). */
async function domainError(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

const SECRET = /^whsec_([A-Za-z0-9+/]+=*)$/;

describe('createWebhookEndpoints', () => {
  describe('create', () => {
    it('refuses a URL with a problem, saying why, and never touches the store', async () => {
      const fake = fakeStore();
      const { endpoints, checked } = endpointsOn(fake, 'resolves to a private address (10.0.0.5)');
      const error = await domainError(
        endpoints.create({ url: 'http://internal.example/hook', description: '' }, 'admin'),
      );
      expect(error.code).toBe('webhook_url_refused');
      expect(error.message).toBe('Value error, resolves to a private address (10.0.0.5)');
      expect(error.facts).toEqual({
        url: 'http://internal.example/hook',
        problem: 'resolves to a private address (10.0.0.5)',
      });
      expect(checked).toEqual(['http://internal.example/hook']);
      expect(fake.calls).toEqual([]);
    });

    it('creates the endpoint with a fresh `whsec_` secret of 32 random bytes, returned once', async () => {
      const fake = fakeStore();
      const { endpoints, checked } = endpointsOn(fake);
      const { endpoint, secret } = await endpoints.create(
        { url: 'https://hooks.example.com/a', events: ['limits.changed'], description: 'Engine' },
        'ops@example.com',
      );
      const base64 = SECRET.exec(secret)?.[1] ?? '';
      expect(Buffer.from(base64, 'base64')).toHaveLength(32);
      expect(Buffer.from(base64, 'base64').toString('base64')).toBe(base64); // canonical base64
      expect(checked).toEqual(['https://hooks.example.com/a']);
      expect(fake.calls).toEqual([
        {
          method: 'createEndpoint',
          args: [
            { url: 'https://hooks.example.com/a', events: ['limits.changed'], description: 'Engine', secret },
            'ops@example.com',
          ],
        },
      ]);
      expect(endpoint).toEqual({
        id: ENDPOINT_ID,
        url: 'https://hooks.example.com/a',
        events: ['limits.changed'],
        description: 'Engine',
        createdAt: new Date('2026-12-03T12:00:00Z'),
        disabledAt: null,
        disabledReason: null,
      });
      // The record the store gave back: the secret is not in it.
      expect(JSON.stringify(endpoint)).not.toContain('whsec_');
    });

    it('makes a new secret for every endpoint', async () => {
      const { endpoints } = endpointsOn(fakeStore());
      const secrets = new Set<string>();
      for (let i = 0; i < 5; i++) {
        secrets.add(
          (await endpoints.create({ url: 'https://hooks.example.com/a', description: '' }, 'admin')).secret,
        );
      }
      expect(secrets.size).toBe(5);
    });

    it('subscribes to a type listed twice once', async () => {
      const fake = fakeStore();
      const { endpoints } = endpointsOn(fake);
      await endpoints.create(
        { url: 'https://hooks.example.com/a', events: ['limits.changed', 'limits.changed'], description: '' },
        'admin',
      );
      expect(fake.calls[0]?.args[0]).toMatchObject({ events: ['limits.changed'] });
    });

    it('subscribes to every type, later ones too, when no events are given', async () => {
      const fake = fakeStore();
      const { endpoints } = endpointsOn(fake);
      const { endpoint } = await endpoints.create(
        { url: 'https://hooks.example.com/a', description: '' },
        'admin',
      );
      expect(fake.calls[0]?.args[0]).toMatchObject({ events: null });
      expect(endpoint.events).toBeNull();
      await endpoints.create(
        { url: 'https://hooks.example.com/a', events: undefined, description: '' },
        'admin',
      );
      expect(fake.calls[1]?.args[0]).toMatchObject({ events: null });
    });
  });

  it('lists what the store holds', async () => {
    const fake = fakeStore();
    const { endpoints } = endpointsOn(fake);
    expect(await endpoints.list()).toEqual([fake.endpoint]);
  });

  describe('delete', () => {
    it('deletes a known endpoint as the actor', async () => {
      const fake = fakeStore();
      const { endpoints } = endpointsOn(fake);
      await expect(endpoints.delete(ENDPOINT_ID, 'ops@example.com')).resolves.toBeUndefined();
      expect(fake.calls).toEqual([{ method: 'deleteEndpoint', args: [ENDPOINT_ID, 'ops@example.com'] }]);
    });

    it('refuses an unknown endpoint', async () => {
      const { endpoints } = endpointsOn(fakeStore({ known: false }));
      expect((await domainError(endpoints.delete(ENDPOINT_ID, 'admin'))).code).toBe(
        'webhook_endpoint_not_found',
      );
    });
  });

  describe('deliveries', () => {
    it("gives a known endpoint's page", async () => {
      const fake = fakeStore();
      const { endpoints } = endpointsOn(fake);
      const after: PagePosition = { at: '2026-12-03T12:00:00.000000Z', id: DELIVERY_ID };
      expect(await endpoints.deliveries(ENDPOINT_ID, { limit: 10, after })).toBe(fake.page);
      expect(fake.calls).toEqual([
        { method: 'findEndpoint', args: [ENDPOINT_ID] },
        { method: 'listDeliveries', args: [ENDPOINT_ID, { limit: 10, after }] },
      ]);
    });

    it('refuses an unknown endpoint without listing', async () => {
      const fake = fakeStore({ known: false });
      const { endpoints } = endpointsOn(fake);
      expect((await domainError(endpoints.deliveries(ENDPOINT_ID, { limit: 10 }))).code).toBe(
        'webhook_endpoint_not_found',
      );
      expect(fake.calls.map((call) => call.method)).toEqual(['findEndpoint']);
    });
  });

  describe('redeliver', () => {
    it('makes the delivery due and wakes the dispatcher once', async () => {
      const fake = fakeStore();
      const { endpoints, wakes } = endpointsOn(fake);
      await endpoints.redeliver(ENDPOINT_ID, DELIVERY_ID, 'ops@example.com');
      expect(fake.calls).toEqual([
        { method: 'findEndpoint', args: [ENDPOINT_ID] },
        { method: 'redeliver', args: [ENDPOINT_ID, DELIVERY_ID, 'ops@example.com'] },
      ]);
      expect(wakes()).toBe(1);
    });

    it('refuses an unknown endpoint, without redelivering or waking', async () => {
      const fake = fakeStore({ known: false });
      const { endpoints, wakes } = endpointsOn(fake);
      expect((await domainError(endpoints.redeliver(ENDPOINT_ID, DELIVERY_ID, 'admin'))).code).toBe(
        'webhook_endpoint_not_found',
      );
      expect(fake.calls.map((call) => call.method)).toEqual(['findEndpoint']);
      expect(wakes()).toBe(0);
    });

    it.each([
      ['no_delivery', 'webhook_delivery_not_found'],
      ['endpoint_disabled', 'webhook_endpoint_disabled'],
    ] as const)('answers %s with %s, without waking', async (result, code) => {
      const { endpoints, wakes } = endpointsOn(fakeStore({ redeliver: result }));
      expect((await domainError(endpoints.redeliver(ENDPOINT_ID, DELIVERY_ID, 'admin'))).code).toBe(code);
      expect(wakes()).toBe(0);
    });
  });

  describe('an unreachable store', () => {
    const unreachable = new Error('connection refused');
    const operations: [
      string,
      (endpoints: ReturnType<typeof endpointsOn>['endpoints']) => Promise<unknown>,
    ][] = [
      ['create', (e) => e.create({ url: 'https://hooks.example.com/a', description: '' }, 'admin')],
      ['list', (e) => e.list()],
      ['delete', (e) => e.delete(ENDPOINT_ID, 'admin')],
      ['deliveries', (e) => e.deliveries(ENDPOINT_ID, { limit: 10 })],
      ['redeliver', (e) => e.redeliver(ENDPOINT_ID, DELIVERY_ID, 'admin')],
    ];

    it.each(operations)(
      'makes %s answer store_unavailable, with the failure as its cause',
      async (_, operation) => {
        const { endpoints, wakes } = endpointsOn(fakeStore({ failure: unreachable }));
        const error = await domainError(operation(endpoints));
        expect(error.code).toBe('store_unavailable');
        expect(error.cause).toBe(unreachable);
        expect(wakes()).toBe(0);
      },
    );

    it.each(operations)(
      'lets a bug in %s through as it is (a TypeError is no outage)',
      async (_, operation) => {
        const bug = new TypeError("Cannot read properties of undefined (reading 'id')");
        const { endpoints } = endpointsOn(fakeStore({ failure: bug }));
        await expect(operation(endpoints)).rejects.toBe(bug);
      },
    );

    it('lets a statement the database refused through as it is', async () => {
      const refused = Object.assign(new Error('duplicate key value'), { code: '23505', severity: 'ERROR' });
      const { endpoints } = endpointsOn(fakeStore({ failure: refused }));
      await expect(endpoints.list()).rejects.toBe(refused);
    });
  });
});
