import { randomBytes } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import type { ClaimedDelivery } from '../../../src/domain/outbox/outbox-store.js';
import { signedRequest } from '../../../src/domain/outbox/signed-request.js';

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

const delivery = (overrides: Partial<ClaimedDelivery> = {}): ClaimedDelivery => ({
  id: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
  endpointId: '0f8fad5b-d9cb-469f-a165-70867728950e',
  url: 'https://hooks.example.com/billing',
  secret: newSecret(),
  attempt: 1,
  event: {
    id: 'evt_01',
    type: 'limits.changed',
    sequence: 42,
    createdAt: new Date('2026-12-03T12:00:00.123Z'),
    tenantId: 'org-456',
    // Keys in another order than the contract's, as a database's jsonb may hand them back.
    data: {
      cause: 'admin',
      after: { self_hosted_workers: null, plan_type: 'growth', deployments: 10 },
      before: { deployments: 5, self_hosted_workers: null, plan_type: 'growth' },
      customer_id: 'cus-456',
      tenant_id: 'org-456',
    },
  },
  ...overrides,
});

describe('signedRequest', () => {
  it('carries the Standard Webhooks headers of the attempt', () => {
    const at = new Date('2026-12-03T12:00:05.999Z');
    const { headers } = signedRequest(delivery(), at);
    expect(Object.keys(headers).sort()).toEqual([
      'content-type',
      'webhook-id',
      'webhook-signature',
      'webhook-timestamp',
    ]);
    expect(headers['content-type']).toBe('application/json');
    expect(headers['webhook-id']).toBe('evt_01');
    // Whole seconds, rounded down.
    expect(headers['webhook-timestamp']).toBe(String(Math.floor(at.getTime() / 1000)));
    expect(headers['webhook-timestamp']).toBe('1796299205');
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
  });

  it("is accepted by the Standard Webhooks package's verifier, which gives back the payload", () => {
    const claimed = delivery();
    const { headers, body } = signedRequest(claimed, new Date());
    expect(new Webhook(claimed.secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it("has the contract's body: type, commit time and data with the event's sequence, in key order", () => {
    const { body } = signedRequest(delivery(), new Date());
    expect(body).toBe(
      '{"type":"limits.changed","timestamp":"2026-12-03T12:00:00.123Z","data":{' +
        '"tenant_id":"org-456","customer_id":"cus-456","sequence":42,' +
        '"before":{"deployments":5,"self_hosted_workers":null,"plan_type":"growth"},' +
        '"after":{"deployments":10,"self_hosted_workers":null,"plan_type":"growth"},' +
        '"cause":"admin"}}',
    );
  });

  it("takes `sequence` from the event, over any in its data, and sends a created tenant's `before: null`", () => {
    const claimed = delivery();
    const { body } = signedRequest(
      {
        ...claimed,
        event: {
          ...claimed.event,
          sequence: 7,
          data: { ...claimed.event.data, sequence: 999, before: null },
        },
      },
      new Date(),
    );
    const payload = JSON.parse(body) as { data: Record<string, unknown> };
    expect(payload.data['sequence']).toBe(7);
    expect(payload.data['before']).toBeNull();
  });

  it('leaves out data the contract does not list', () => {
    const claimed = delivery();
    const { body } = signedRequest(
      { ...claimed, event: { ...claimed.event, data: { ...claimed.event.data, internal: 'x' } } },
      new Date(),
    );
    expect(body).not.toContain('internal');
  });

  it('sends the same body on every attempt, signed anew for its time', () => {
    const claimed = delivery();
    const first = signedRequest(claimed, new Date('2026-12-03T12:00:05Z'));
    const second = signedRequest({ ...claimed, attempt: 2 }, new Date('2026-12-03T12:00:35Z'));
    expect(second.body).toBe(first.body);
    expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
    expect(second.headers['webhook-timestamp']).toBe('1796299235');
    expect(second.headers['webhook-signature']).not.toBe(first.headers['webhook-signature']);
    // And the same time gives the same signature (HMAC, nothing random).
    expect(signedRequest(claimed, new Date('2026-12-03T12:00:05Z')).headers['webhook-signature']).toBe(
      first.headers['webhook-signature'],
    );
  });

  describe('fails verification', () => {
    it('with a body changed after signing', () => {
      const claimed = delivery();
      const { headers, body } = signedRequest(claimed, new Date());
      const tampered = body.replace('"deployments":10', '"deployments":1000');
      expect(tampered).not.toBe(body);
      expect(() => new Webhook(claimed.secret).verify(tampered, headers)).toThrow(WebhookVerificationError);
    });

    it('with another secret', () => {
      const { headers, body } = signedRequest(delivery(), new Date());
      expect(() => new Webhook(newSecret()).verify(body, headers)).toThrow(WebhookVerificationError);
    });

    it('with another event id', () => {
      const claimed = delivery();
      const { headers, body } = signedRequest(claimed, new Date());
      expect(() => new Webhook(claimed.secret).verify(body, { ...headers, 'webhook-id': 'evt_02' })).toThrow(
        WebhookVerificationError,
      );
    });
  });

  describe('refuses data that does not fit the contract', () => {
    const { event } = delivery();
    const { after: _after, ...withoutAfter } = event.data;
    it.each<[string, Record<string, unknown>]>([
      ['no `after`', withoutAfter],
      ['an unknown cause', { ...event.data, cause: 'operator' }],
      [
        'a limit that is not a count',
        { ...event.data, after: { deployments: -1, self_hosted_workers: null, plan_type: 'growth' } },
      ],
      ['no customer', { ...event.data, customer_id: undefined }],
    ])('%s', (_, data) => {
      expect(() => signedRequest(delivery({ event: { ...event, data } }), new Date())).toThrow(ZodError);
    });

    it('a sequence that is not an integer', () => {
      expect(() => signedRequest(delivery({ event: { ...event, sequence: 1.5 } }), new Date())).toThrow(
        ZodError,
      );
    });
  });
});
