import { randomBytes } from 'node:crypto';
import type { PagePosition } from '../../contract/cursor.js';
import type { EventType } from '../../contract/outbound-webhooks.js';
import {
  orUnavailable,
  webhookDeliveryNotFound,
  webhookEndpointDisabled,
  webhookEndpointNotFound,
  webhookUrlRefused,
} from '../errors.js';
import type { OutboxStore, WebhookDeliveriesPage, WebhookEndpointRecord } from './outbox-store.js';

export interface WebhookEndpointsOptions {
  store: OutboxStore;
  /** Why a URL may not be an endpoint (its scheme, or an address it resolves to), or undefined. */
  urlProblem(url: string): Promise<string | undefined>;
  /** This replica's dispatcher looks at the outbox now (a redelivery is due at once). */
  wake(): void;
}

/** Operators' outbound endpoints, for the admin API: each write audited as `actor`. */
export interface WebhookEndpoints {
  /** The endpoint and its signing secret: the only time the secret is shown. */
  create(
    endpoint: { url: string; events?: EventType[] | undefined; description: string },
    actor: string,
  ): Promise<{ endpoint: WebhookEndpointRecord; secret: string }>;
  list(): Promise<WebhookEndpointRecord[]>;
  delete(endpointId: string, actor: string): Promise<void>;
  deliveries(
    endpointId: string,
    page: { limit: number; after?: PagePosition | undefined },
  ): Promise<WebhookDeliveriesPage>;
  redeliver(endpointId: string, deliveryId: string, actor: string): Promise<void>;
}

/** `whsec_` + base64 of 32 random bytes: the form Standard Webhooks libraries take. */
const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

export function createWebhookEndpoints({
  store,
  urlProblem,
  wake,
}: WebhookEndpointsOptions): WebhookEndpoints {
  return {
    async create({ url, events, description }, actor) {
      const problem = await urlProblem(url);
      if (problem !== undefined) throw webhookUrlRefused(url, problem);
      const secret = newSecret();
      // The same type listed twice is one subscription.
      const types = events ? [...new Set(events)] : null;
      const endpoint = await orUnavailable(
        store.createEndpoint({ url, events: types, description, secret }, actor),
      );
      return { endpoint, secret };
    },
    list: () => orUnavailable(store.listEndpoints()),
    async delete(endpointId, actor) {
      if (!(await orUnavailable(store.deleteEndpoint(endpointId, actor)))) throw webhookEndpointNotFound();
    },
    async deliveries(endpointId, page) {
      if (!(await orUnavailable(store.findEndpoint(endpointId)))) throw webhookEndpointNotFound();
      return orUnavailable(store.listDeliveries(endpointId, page));
    },
    async redeliver(endpointId, deliveryId, actor) {
      if (!(await orUnavailable(store.findEndpoint(endpointId)))) throw webhookEndpointNotFound();
      const result = await orUnavailable(store.redeliver(endpointId, deliveryId, actor));
      if (result === 'no_delivery') throw webhookDeliveryNotFound();
      if (result === 'endpoint_disabled') throw webhookEndpointDisabled();
      wake();
    },
  };
}
