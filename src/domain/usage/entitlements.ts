import { LRUCache } from 'lru-cache';
import type { Entitlement, EntitlementsResponse } from '../../contract/entitlements.js';
import type { Resource } from '../../contract/usage.js';
import { TIMED_OUT, within } from '../deadline.js';
import { DomainError, orUnavailable, storeUnavailable, tenantNotFound } from '../errors.js';
import { resourcePolicy, type TenantRecord } from '../limits/effective-limits.js';
import { remainingOf } from '../limits/usage-policy.js';
import type { EntitlementsRead, Held, UsageStore } from './usage-store.js';

function entitlementOf(record: TenantRecord, resource: Resource, used: number, held: Held): Entitlement {
  const { limit, soft } = resourcePolicy(record, resource);
  const override = record.overrides[resource];
  return {
    limit,
    source: override === undefined ? 'plan' : 'override',
    plan_limit: record.plan[resource],
    override: override === undefined ? null : override,
    soft,
    used,
    remaining: remainingOf(limit, used),
    active_reservations: held.activeReservations,
    leased_quantity: held.leasedQuantity,
  };
}

function entitlementsOf({ record, used, held }: EntitlementsRead, asOf: number): EntitlementsResponse {
  const of = (resource: Resource) => entitlementOf(record, resource, used[resource], held[resource]);
  return {
    tenant_id: record.tenantId,
    customer_id: record.customerId,
    plan_type: record.planId,
    entitlements: { deployments: of('deployments'), self_hosted_workers: of('self_hosted_workers') },
    as_of: new Date(asOf).toISOString(),
    stale: false,
  };
}

export interface EntitlementsOptions {
  /** How long a read waits for the store before the last answer is served, stale (ms; 0 = no limit). */
  storeTimeoutMs?: number | undefined;
  /** The oldest a last answer may be to be served when the store fails (ms; 0 = any age). */
  staleMaxMs?: number | undefined;
  /** Tenants whose last answer is kept for that. */
  maxEntries?: number | undefined;
  /** Ms since the epoch: `as_of`, and the age of a last answer. */
  now?: (() => number) | undefined;
}

export interface EntitlementsService {
  /** Every limit of the tenant, where it comes from, and what holds it now. */
  explain(tenantId: string): Promise<EntitlementsResponse>;
}

/**
 * Entitlements are read from the store on every call — usage moves with every reservation, so
 * there is no fresh copy to keep — and the last answer per tenant is kept for when the store is
 * unreachable or too slow: served with `stale: true` and the `as_of` it was read at, up to
 * `staleMaxMs` old, as the limits cache serves its stale-if-error answers. Past that, 503.
 */
export function createEntitlementsService(
  store: Pick<UsageStore, 'entitlements'>,
  {
    storeTimeoutMs = 2_000,
    staleMaxMs = 900_000,
    maxEntries = 10_000,
    now = Date.now,
  }: EntitlementsOptions = {},
): EntitlementsService {
  const lastAnswers = new LRUCache<string, EntitlementsResponse>({ max: maxEntries });

  function lastAnswer(tenantId: string, failure: unknown): EntitlementsResponse {
    const known = lastAnswers.get(tenantId);
    if (!known || (staleMaxMs > 0 && now() - Date.parse(known.as_of) > staleMaxMs)) throw failure;
    return { ...known, stale: true };
  }

  return {
    async explain(tenantId) {
      // Taken before the read: the answer is at least this fresh, and its staleness is never understated.
      const asOf = now();
      const reading = orUnavailable(store.entitlements(tenantId));
      let read: EntitlementsRead | undefined | typeof TIMED_OUT;
      try {
        read = storeTimeoutMs > 0 ? await within(reading, storeTimeoutMs) : await reading;
      } catch (error) {
        // Only an unreachable store: a fault of ours is a 500, never hidden behind an old answer.
        if (error instanceof DomainError && error.code === 'store_unavailable')
          return lastAnswer(tenantId, error);
        throw error;
      }
      if (read === TIMED_OUT) {
        reading.catch(() => {});
        return lastAnswer(tenantId, storeUnavailable(new Error(`no answer within ${storeTimeoutMs} ms`)));
      }
      if (!read) {
        lastAnswers.delete(tenantId);
        throw tenantNotFound();
      }
      const answer = entitlementsOf(read, asOf);
      lastAnswers.set(tenantId, answer);
      return answer;
    },
  };
}
