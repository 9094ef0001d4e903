import type { HttpClient } from './http.js';

/** The soak's tenants and the admin bodies that set (and keep changing) their limits. */

export const PLANS = ['free', 'growth', 'enterprise'] as const;
export type Plan = (typeof PLANS)[number];
export const RESOURCES = ['deployments', 'self_hosted_workers'] as const;
export type Resource = (typeof RESOURCES)[number];

export interface SoakTenant {
  id: string;
  customer: string;
}

export const randomInt = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));
export function pick<T>(items: readonly T[]): T {
  const item = items[Math.floor(Math.random() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

export function soakTenants(count: number): SoakTenant[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `soak-org-${i + 1}`,
    customer: `soak-cus-${i + 1}`,
  }));
}

/**
 * The seed, by tenant number: plans rotate free → growth → enterprise; limits rotate through four
 * shapes so that 409s and overage grants both happen from the start:
 *   1 small hard deployments (3..10) · 2 small soft deployments (cap 2..5) · 3 the plan's own ·
 *   0 small workers (4..12), soft with a cap of 3 (every 8th: no cap).
 */
export function seedBody(tenant: SoakTenant, n: number): Record<string, unknown> {
  const body: Record<string, unknown> = {
    plan_id: PLANS[n % PLANS.length],
    customer_id: tenant.customer,
  };
  switch (n % 4) {
    case 1:
      body['overrides'] = { deployments: randomInt(3, 10) };
      body['soft_limits'] = { deployments: null };
      break;
    case 2:
      body['overrides'] = { deployments: randomInt(3, 10) };
      body['soft_limits'] = { deployments: { overage_cap: randomInt(2, 5) } };
      break;
    case 3:
      body['overrides'] = {};
      break;
    default:
      body['overrides'] = { self_hosted_workers: randomInt(4, 12) };
      body['soft_limits'] = { self_hosted_workers: { overage_cap: n % 8 === 0 ? null : 3 } };
  }
  return body;
}

/** A limit override as an operator might set it: mostly small, sometimes inherited or unlimited. */
function randomOverride(): number | null | undefined {
  const roll = Math.random();
  if (roll < 0.15) return undefined; // inherit the plan
  if (roll < 0.25) return null; // unlimited
  return randomInt(2, 12);
}

function randomSoftLimit(): { overage_cap: number | null } | null | undefined {
  const roll = Math.random();
  if (roll < 0.4) return undefined; // the plan's policy
  if (roll < 0.7) return null; // hard
  return { overage_cap: roll < 0.95 ? randomInt(0, 5) : null };
}

/** A mid-run admin write: new overrides, and half the time a new soft-limit policy. */
export function adminWriteBody(): Record<string, unknown> {
  const overrides: Record<string, number | null> = {};
  const soft: Record<string, { overage_cap: number | null } | null> = {};
  for (const resource of RESOURCES) {
    const override = randomOverride();
    if (override !== undefined) overrides[resource] = override;
    const softLimit = randomSoftLimit();
    if (softLimit !== undefined) soft[resource] = softLimit;
  }
  return Math.random() < 0.5 ? { overrides } : { overrides, soft_limits: soft };
}

/** Creates every tenant through the admin API of one replica, 8 at a time; any answer but 200 throws. */
export async function seedTenants(
  client: HttpClient,
  origin: string,
  adminToken: string,
  tenants: readonly SoakTenant[],
  signal: AbortSignal,
): Promise<void> {
  for (let i = 0; i < tenants.length; i += 8) {
    await Promise.all(
      tenants.slice(i, i + 8).map(async (tenant, j) => {
        const body = JSON.stringify(seedBody(tenant, i + j + 1));
        const headers = { authorization: `Bearer ${adminToken}` };
        const answer = await client.send(origin, 'PUT', `/admin/tenants/${tenant.id}`, headers, body);
        if (answer.status !== 200) throw new Error(`seeding ${tenant.id}: ${answer.status} ${answer.body}`);
      }),
    );
    signal.throwIfAborted();
  }
}
