import type { Context } from 'hono';
import type { AdminApi } from './admin-api.js';
import { limitText, RESOURCE_LABELS, RESOURCES } from './pages/format.js';
import { tenantFormOf, UNLIMITED } from './pages/tenant.js';

/** What the console's forms say, read as the admin API takes it. */

/** A limit as typed: `unlimited` is the API's `null`, digits a number; anything else goes to the API as typed, to be refused in its words. */
export function limitInput(typed: string): unknown {
  if (typed.toLowerCase() === UNLIMITED) return null;
  return /^[+-]?\d+$/.test(typed) ? Number(typed) : typed;
}

/** What a save changed, in the form's words: `Deployments override: inherit (5) → 7`. */
export function tenantChanges(
  before: Awaited<ReturnType<AdminApi['getTenant']>>,
  after: Awaited<ReturnType<AdminApi['putTenant']>>,
): string[] {
  const was = tenantFormOf(before);
  const is = tenantFormOf(after);
  const lines: string[] = [];
  if (was.plan !== is.plan) lines.push(`Plan: ${was.plan} → ${is.plan}`);
  for (const resource of RESOURCES) {
    const label = `${RESOURCE_LABELS[resource]} override`;
    const show = (override: string, limit: number | null) =>
      override === '' ? `inherit (${limitText(limit)})` : override;
    if (was[resource] !== is[resource])
      lines.push(
        `${label}: ${show(was[resource], before.limits[resource])} → ${show(is[resource], after.limits[resource])}`,
      );
  }
  for (const resource of RESOURCES) {
    if (before.limits[resource] !== after.limits[resource])
      lines.push(
        `${RESOURCE_LABELS[resource]} limit now ${limitText(after.limits[resource])} (was ${limitText(before.limits[resource])})`,
      );
  }
  return lines.length > 0 ? lines : ['Nothing changed.'];
}

/** A form's text fields (a file field is not one of ours: ignored). */
export async function formOf(c: Context): Promise<Record<string, string>> {
  const type = c.req.header('content-type') ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded') && !type.startsWith('multipart/form-data'))
    return {};
  const body = await c.req.parseBody();
  return Object.fromEntries(
    Object.entries(body).flatMap(([name, value]) => (typeof value === 'string' ? [[name, value]] : [])),
  );
}
