/**
 * The soak's traffic: a mix of the service's routes over every replica, each answer checked
 * against what it must be, and a ledger of what the service granted and released — which the
 * database is held to at the end (see invariants.ts).
 */
import { type HttpAnswer, type HttpClient, NetworkError } from './http.js';
import { orbSignature, orbTimestamp, planChangedEvent } from './orb.js';
import { Stats } from './stats.js';
import {
  adminWriteBody,
  PLANS,
  pick,
  RESOURCES,
  type Resource,
  randomInt,
  type SoakTenant,
} from './tenants.js';

const KEPT_ERRORS = 20;

export interface Grant {
  id: string;
  tenant: string;
  resource: Resource;
  quantity: number;
  key: string;
  /** held → releasing → released; `unknown` when a release got no answer. */
  state: 'held' | 'releasing' | 'released' | 'unknown';
}

export interface SoakError {
  atSeconds: number;
  route: string;
  replica: string;
  request: string;
  status: number | 'network';
  detail: string;
}

export interface WorkloadContext {
  client: HttpClient;
  origins: readonly { name: string; origin: string }[];
  tenants: readonly SoakTenant[];
  workerToken: string;
  adminToken: string;
  orbSecret: string;
  /** Unique per run: idempotency keys and event ids carry it. */
  runId: string;
  startedAt: number;
}

const truncate = (text: string, max = 300) => (text.length > max ? `${text.slice(0, max)}…` : text);

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Removes and returns a random element (order does not matter here). */
function takeRandom<T>(items: T[]): T | undefined {
  if (items.length === 0) return undefined;
  const index = Math.floor(Math.random() * items.length);
  const last = items.pop();
  if (index === items.length || last === undefined) return last;
  const taken = items[index];
  items[index] = last;
  return taken;
}

export class Workload {
  readonly stats = new Stats();
  readonly errors: SoakError[] = [];
  errorCount = 0;
  /** Every reservation this script was granted, by id. */
  readonly grants = new Map<string, Grant>();
  /** Grants in the order they came, for replays of their keys. */
  private readonly granted: Grant[] = [];
  private readonly held: Grant[] = [];
  private readonly released: Grant[] = [];
  /** Event ids answered 200 (delivered), with the body first sent. */
  readonly deliveredEvents = new Map<string, string>();
  private readonly deliveredIds: string[] = [];
  /** Event ids sent whose delivery got no 200: they may or may not be recorded. */
  readonly undeliveredEvents = new Set<string>();
  readonly counters = new Map<string, number>();
  private next = 0;
  private sequence = 0;

  constructor(private readonly ctx: WorkloadContext) {}

  count(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  private replica() {
    const replica = this.ctx.origins[this.next++ % this.ctx.origins.length];
    if (!replica) throw new Error('no replicas');
    return replica;
  }

  private error(entry: Omit<SoakError, 'atSeconds'>): void {
    this.errorCount += 1;
    if (this.errors.length < KEPT_ERRORS) {
      const atSeconds = Math.round((performance.now() - this.ctx.startedAt) / 100) / 10;
      this.errors.push({ atSeconds, ...entry, detail: truncate(entry.detail, 600) });
    }
  }

  /**
   * One request: timed, counted under `route`, and an error unless its status is `expected`.
   * Resolves with the answer (whatever its status), or undefined when there was none.
   */
  private async call(
    route: string,
    request: { method: string; path: string; headers: Record<string, string>; body?: string },
    expected: readonly number[],
    note = '',
  ): Promise<{ answer: HttpAnswer; replica: string; describe: string } | undefined> {
    const replica = this.replica();
    const describe = `${request.method} ${request.path}${note ? ` (${note})` : ''}${
      request.body === undefined ? '' : ` ${truncate(request.body, 400)}`
    }`;
    try {
      const answer = await this.ctx.client.send(
        replica.origin,
        request.method,
        request.path,
        request.headers,
        request.body,
      );
      this.stats.record(route, answer.status, answer.ms);
      if (!expected.includes(answer.status)) {
        this.error({
          route,
          replica: replica.name,
          request: describe,
          status: answer.status,
          detail: answer.body,
        });
      }
      return { answer, replica: replica.name, describe };
    } catch (error) {
      const ms = error instanceof NetworkError ? error.ms : 0;
      this.stats.record(route, 'network', ms);
      this.error({
        route,
        replica: replica.name,
        request: describe,
        status: 'network',
        detail: (error as Error).message,
      });
      return undefined;
    }
  }

  private worker(tenant: string) {
    return { authorization: `Bearer ${this.ctx.workerToken}`, 'tenant-id': tenant };
  }

  /** One operation, picked by the mix: 50 limits · 20 reserve · 15 release · 5 usage · 5 admin · 5 webhook. */
  async step(): Promise<void> {
    const roll = Math.random() * 100;
    if (roll < 50) return this.limits();
    if (roll < 70) return this.reservation();
    if (roll < 85) return this.release();
    if (roll < 90) return this.usage();
    if (roll < 95) return this.adminWrite();
    return this.webhook();
  }

  async limits(): Promise<void> {
    const tenant = pick(this.ctx.tenants).id;
    const route = 'GET /billing/limits';
    const result = await this.call(
      route,
      { method: 'GET', path: '/billing/limits', headers: this.worker(tenant) },
      [200],
    );
    if (result?.answer.status === 200 && parseJson(result.answer.body)?.['tenant_id'] !== tenant) {
      this.error({
        ...this.failure(route, result),
        detail: `tenant_id is not ${tenant}: ${result.answer.body}`,
      });
    }
  }

  async usage(): Promise<void> {
    const tenant = pick(this.ctx.tenants).id;
    const route = 'GET /billing/usage';
    const result = await this.call(
      route,
      { method: 'GET', path: '/billing/usage', headers: this.worker(tenant) },
      [200],
    );
    if (result?.answer.status === 200 && parseJson(result.answer.body)?.['tenant_id'] !== tenant) {
      this.error({
        ...this.failure(route, result),
        detail: `tenant_id is not ${tenant}: ${result.answer.body}`,
      });
    }
  }

  private failure(route: string, result: { answer: HttpAnswer; replica: string; describe: string }) {
    return { route, replica: result.replica, request: result.describe, status: result.answer.status };
  }

  /** 94 % a fresh key · 5 % an earlier key, same body (a replay) · 1 % an earlier key, other quantity (422). */
  async reservation(): Promise<void> {
    const roll = Math.random() * 100;
    const earlier = this.granted.length > 0 ? pick(this.granted) : undefined;
    if (earlier && roll < 5) return this.replay(earlier);
    if (earlier && roll < 6) return this.reuseKey(earlier);
    const tenant = pick(this.ctx.tenants).id;
    const resource = pick(RESOURCES);
    const quantity = randomInt(1, 3);
    const key = `soak-${this.ctx.runId}-${++this.sequence}`;
    const route = 'POST /billing/reservations';
    const body = JSON.stringify({ resource, quantity, idempotency_key: key });
    const result = await this.call(
      route,
      { method: 'POST', path: '/billing/reservations', headers: this.worker(tenant), body },
      [201, 409],
    );
    if (!result) return;
    const answer = parseJson(result.answer.body);
    if (result.answer.status === 409) {
      const detail = answer?.['detail'] as Record<string, unknown> | undefined;
      if (detail?.['code'] !== 'limit_exceeded') {
        this.error({
          ...this.failure(route, result),
          detail: `409 without limit_exceeded: ${result.answer.body}`,
        });
      }
      this.count('refused (409)');
      return;
    }
    if (result.answer.status !== 201) return;
    const id = answer?.['reservation_id'];
    if (typeof id !== 'string') {
      this.error({
        ...this.failure(route, result),
        detail: `201 without reservation_id: ${result.answer.body}`,
      });
      return;
    }
    if (this.grants.has(id)) {
      this.error({
        ...this.failure(route, result),
        detail: `a fresh key got an existing reservation_id: ${id}`,
      });
      return;
    }
    if (answer?.['quantity'] !== quantity || answer['resource'] !== resource) {
      this.error({
        ...this.failure(route, result),
        detail: `granted another request: ${result.answer.body}`,
      });
    }
    this.count('granted (201)');
    if (answer?.['overage'] === true) this.count('granted past a soft limit (overage)');
    this.recordGrant({ id, tenant, resource, quantity, key, state: 'held' });
  }

  private recordGrant(grant: Grant): void {
    this.grants.set(grant.id, grant);
    this.granted.push(grant);
    this.held.push(grant);
  }

  private async replay(earlier: Grant): Promise<void> {
    const route = 'POST /billing/reservations (replay)';
    const body = JSON.stringify({
      resource: earlier.resource,
      quantity: earlier.quantity,
      idempotency_key: earlier.key,
    });
    const result = await this.call(
      route,
      { method: 'POST', path: '/billing/reservations', headers: this.worker(earlier.tenant), body },
      [201],
      `replay of ${earlier.id}`,
    );
    if (result?.answer.status !== 201) return;
    const id = parseJson(result.answer.body)?.['reservation_id'];
    if (id !== earlier.id) {
      this.error({
        ...this.failure(route, result),
        detail: `replay answered reservation_id ${String(id)}, first answer was ${earlier.id}: ${result.answer.body}`,
      });
      if (typeof id === 'string' && !this.grants.has(id)) {
        this.recordGrant({ ...earlier, id, state: 'held' });
      }
      return;
    }
    this.count('replayed (same reservation_id)');
  }

  private async reuseKey(earlier: Grant): Promise<void> {
    const route = 'POST /billing/reservations (key reused)';
    const quantity = earlier.quantity === 3 ? 1 : earlier.quantity + 1;
    const body = JSON.stringify({ resource: earlier.resource, quantity, idempotency_key: earlier.key });
    const result = await this.call(
      route,
      { method: 'POST', path: '/billing/reservations', headers: this.worker(earlier.tenant), body },
      [422],
      `key of ${earlier.id}, other quantity`,
    );
    if (!result) return;
    if (result.answer.status === 422) {
      this.count('key reused with another body (422)');
      return;
    }
    const id = parseJson(result.answer.body)?.['reservation_id'];
    if (result.answer.status === 201 && typeof id === 'string' && !this.grants.has(id)) {
      this.recordGrant({ ...earlier, id, quantity, state: 'held' });
    }
  }

  /** A held reservation released; one time in ten, one released before is released again. */
  async release(): Promise<void> {
    if (this.released.length > 0 && Math.random() < 0.1) {
      const again = pick(this.released);
      const result = await this.call(
        'DELETE /billing/reservations/{id} (again)',
        { method: 'DELETE', path: `/billing/reservations/${again.id}`, headers: this.worker(again.tenant) },
        [204],
        'second release',
      );
      if (result?.answer.status === 204) this.count('released again (204)');
      return;
    }
    const grant = takeRandom(this.held);
    if (!grant) return this.reservation();
    grant.state = 'releasing';
    const result = await this.call(
      'DELETE /billing/reservations/{id}',
      { method: 'DELETE', path: `/billing/reservations/${grant.id}`, headers: this.worker(grant.tenant) },
      [204],
    );
    if (result?.answer.status === 204) {
      grant.state = 'released';
      this.released.push(grant);
      this.count('released (204)');
    } else {
      // No answer, or a wrong one: whether it was released is for the database to say.
      grant.state = 'unknown';
    }
  }

  async adminWrite(): Promise<void> {
    const tenant = pick(this.ctx.tenants).id;
    await this.call(
      'PUT /admin/tenants/{id}',
      {
        method: 'PUT',
        path: `/admin/tenants/${tenant}`,
        headers: { authorization: `Bearer ${this.ctx.adminToken}` },
        body: JSON.stringify(adminWriteBody()),
      },
      [200],
    );
  }

  private webhookRequest(body: string) {
    const timestamp = orbTimestamp();
    return {
      method: 'POST',
      path: '/webhooks/orb',
      headers: {
        'x-orb-timestamp': timestamp,
        'x-orb-signature': orbSignature(this.ctx.orbSecret, timestamp, body),
      },
      body,
    };
  }

  /** `subscription.plan_changed` to a random plan; one time in five, an event delivered before, again. */
  async webhook(): Promise<void> {
    if (this.deliveredIds.length > 0 && Math.random() < 0.2) {
      const id = pick(this.deliveredIds);
      const body = this.deliveredEvents.get(id) ?? '';
      const route = 'POST /webhooks/orb (duplicate)';
      const result = await this.call(route, this.webhookRequest(body), [200], `re-delivery of ${id}`);
      if (result?.answer.status !== 200) return;
      const outcome = parseJson(result.answer.body)?.['outcome'];
      if (outcome === 'duplicate') this.count('webhook re-delivered: duplicate');
      else
        this.error({ ...this.failure(route, result), detail: `expected duplicate: ${result.answer.body}` });
      return;
    }
    const customer = pick(this.ctx.tenants).customer;
    const id = `evt_soak_${this.ctx.runId}_${++this.sequence}`;
    const body = planChangedEvent(id, customer, pick(PLANS));
    const route = 'POST /webhooks/orb';
    const result = await this.call(route, this.webhookRequest(body), [200]);
    if (result?.answer.status !== 200) {
      this.undeliveredEvents.add(id);
      return;
    }
    this.deliveredEvents.set(id, body);
    this.deliveredIds.push(id);
    const outcome = parseJson(result.answer.body)?.['outcome'];
    // `stale`: a later event for the same customer was applied first (deliveries race).
    if (outcome === 'applied' || outcome === 'stale') this.count(`webhook: ${outcome}`);
    else
      this.error({
        ...this.failure(route, result),
        detail: `expected applied or stale: ${result.answer.body}`,
      });
  }

  /** `concurrency` loops until the deadline (or `maxRequests` each, or the signal). */
  async run(concurrency: number, deadline: number, maxRequestsEach: number, signal: AbortSignal) {
    let capped = 0;
    const loop = async () => {
      let n = 0;
      while (n < maxRequestsEach && performance.now() < deadline && !signal.aborted) {
        await this.step();
        n += 1;
      }
      if (n >= maxRequestsEach) capped += 1;
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
    return { capped };
  }
}
