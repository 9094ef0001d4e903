import { html } from 'hono/html';
import type { Markup } from './layout.js';

/** Resource names as people read them. */
export const RESOURCE_LABELS = {
  deployments: 'Deployments',
  self_hosted_workers: 'Self-hosted workers',
} as const;
export type ResourceName = keyof typeof RESOURCE_LABELS;
export const RESOURCES = Object.keys(RESOURCE_LABELS) as ResourceName[];

/** A limit as a number or "unlimited" (the API's `null`). */
export const limitText = (limit: number | null) => (limit === null ? 'unlimited' : String(limit));

/** A UTC time as `2026-12-03 14:05 UTC`: one zone for every operator, as the logs have it. */
export function timeText(iso: string | null | undefined): string {
  if (!iso) return '—';
  const ms = Date.parse(iso.endsWith('Z') || /[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
  if (Number.isNaN(ms)) return iso;
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export const tenantHref = (tenantId: string) => `/console/tenants/${encodeURIComponent(tenantId)}`;

export const tenantLink = (tenantId: string): Markup =>
  html`<a href="${tenantHref(tenantId)}">${tenantId}</a>`;

/** A JSON value, short: for audit entries' before and after. */
export function jsonText(value: unknown): string {
  return value === null || value === undefined ? '—' : JSON.stringify(value);
}

/** Usage against a limit as a bar with an accessible name ("Deployments: 3 of 5"), or a count when unlimited. */
export function usageBar(resource: ResourceName, used: number, limit: number | null): Markup {
  const label = `${RESOURCE_LABELS[resource]}: ${used} of ${limitText(limit)}`;
  if (limit === null)
    return html`<span class="usage">${used} used <span class="muted">(unlimited)</span></span>`;
  const high = Math.max(0, Math.floor(limit * 0.8));
  return html`<span class="usage"><meter min="0" max="${Math.max(limit, 1)}" low="${high}" high="${high}" optimum="0" value="${Math.min(used, Math.max(limit, 1))}" aria-label="${label}"></meter>
<span>${used} of ${limit}${used > limit ? html` <span class="badge over">over by ${used - limit}</span>` : ''}</span></span>`;
}
