import { html } from 'hono/html';
import type { AdminApi } from '../admin-api.js';
import type { ConsoleSession } from '../session.js';
import { activityChart } from './chart.js';
import {
  jsonText,
  limitText,
  RESOURCE_LABELS,
  RESOURCES,
  type ResourceName,
  tenantLink,
  timeText,
  usageBar,
} from './format.js';
import { consolePage, type Markup, notice } from './layout.js';

type Output<Name extends keyof AdminApi> = Awaited<ReturnType<AdminApi[Name]>>;

export interface TenantPageData {
  readonly tenant: Output<'getTenant'>;
  readonly usage: Output<'getTenantUsage'>;
  readonly sharing: Output<'listTenants'>['tenants'];
  readonly plans: Output<'listPlans'>;
  readonly activity: Output<'getActivity'>;
  readonly audit: Output<'listAudit'>['entries'];
  readonly events: Output<'listWebhookEvents'>['events'];
}

/** The edit form's fields as typed: what the operator sees again after a refusal. */
export interface TenantForm {
  readonly plan: string;
  readonly deployments: string;
  readonly self_hosted_workers: string;
}

/** The form's input names, the labels people read, and the API's field each one sets. */
export const TENANT_FORM_FIELDS = {
  plan: { label: 'Plan', apiField: 'plan_id' },
  deployments: { label: 'Deployments override', apiField: 'overrides.deployments' },
  self_hosted_workers: { label: 'Self-hosted workers override', apiField: 'overrides.self_hosted_workers' },
} as const;

/** The words an override field takes for "no limit". */
export const UNLIMITED = 'unlimited';

/** The form as the tenant is now: an override as its number or "unlimited", empty when inherited. */
export function tenantFormOf(tenant: Output<'getTenant'>): TenantForm {
  const override = (resource: ResourceName) => {
    if (!(resource in tenant.overrides)) return '';
    return limitText(tenant.overrides[resource] ?? null);
  };
  return {
    plan: tenant.plan_id,
    deployments: override('deployments'),
    self_hosted_workers: override('self_hosted_workers'),
  };
}

export function tenantPage(
  session: ConsoleSession,
  data: TenantPageData,
  {
    form = tenantFormOf(data.tenant),
    errors = new Map<string, string>(),
    saved = [],
  }: { form?: TenantForm; errors?: ReadonlyMap<string, string>; saved?: readonly string[] } = {},
): Markup {
  const { tenant, usage, plans } = data;
  const planOf = plans.find((plan) => plan.plan_id === tenant.plan_id);
  const others = data.sharing.filter((other) => other.tenant_id !== tenant.tenant_id);
  // What the API said about no field of the form (or no field at all), said above it.
  const shownAtFields = new Set<string>(Object.values(TENANT_FORM_FIELDS).map((field) => field.apiField));
  const otherProblems = [...errors]
    .filter(([field]) => !shownAtFields.has(field))
    .map(([field, message]) => (field === '' ? message : `${field}: ${message}`));
  return consolePage(
    { title: tenant.tenant_id, section: 'Tenants', session },
    html`<p class="muted"><a href="/console/tenants">Tenants</a> › ${tenant.tenant_id}</p>
<h1>${tenant.tenant_id}</h1>
${saved.length > 0 ? notice('ok', 'Saved', saved) : ''}
${errors.size > 0 ? notice('bad', 'Nothing was saved: the API refused the change.', otherProblems) : ''}
<div class="grid">
<section class="panel" aria-labelledby="account">
<h2 id="account">Plan and customer</h2>
<table>
<tr><th scope="row">Plan</th><td>${tenant.plan_id}</td></tr>
<tr><th scope="row">Customer</th><td class="mono">${tenant.customer_id}</td></tr>
<tr><th scope="row">Sharing the customer</th><td>${
      others.length === 0
        ? html`<span class="muted">no other organization</span>`
        : html`${others.map((other, index) => html`${index > 0 ? ', ' : ''}${tenantLink(other.tenant_id)}`)}`
    }</td></tr>
</table>
</section>
<section class="panel" aria-labelledby="limits">
<h2 id="limits">Limits and usage</h2>
<table>
<thead><tr><th scope="col">Resource</th><th scope="col">Limit</th><th scope="col">From</th><th scope="col">Usage</th></tr></thead>
<tbody>
${RESOURCES.map((resource) => {
  const overridden = resource in tenant.overrides;
  const soft = tenant.soft_limits[resource] ?? planOf?.soft_limits[resource];
  const counts = usage.usage.usage[resource];
  return html`<tr>
<th scope="row">${RESOURCE_LABELS[resource]}</th>
<td>${limitText(tenant.limits[resource])}${soft ? html` <span class="badge">soft, overage cap ${limitText(soft.overage_cap)}</span>` : ''}</td>
<td>${overridden ? html`<span class="badge override">override</span>` : html`<span class="badge">plan ${tenant.plan_id}</span>`}</td>
<td>${usageBar(resource, counts.used, counts.limit)}</td>
</tr>`;
})}
</tbody>
</table>
</section>
</div>

<section class="panel" aria-labelledby="edit">
<h2 id="edit">Change</h2>
<form method="post" class="edit-form" novalidate>
<input type="hidden" name="csrf" value="${session.csrf}">
<div class="fields">
<div>
<label for="plan">${TENANT_FORM_FIELDS.plan.label}</label>
<select id="plan" name="plan" aria-describedby="plan-hint${errors.has('plan_id') ? ' plan-error' : ''}"${errors.has('plan_id') ? html` aria-invalid="true"` : ''}>
${plans.map((plan) => html`<option value="${plan.plan_id}"${plan.plan_id === form.plan ? html` selected` : ''}>${plan.plan_id}</option>`)}
</select>
<p class="hint" id="plan-hint">The plan of customer <span class="mono">${tenant.customer_id}</span>${others.length > 0 ? ` (also ${others.length} other organization${others.length === 1 ? '' : 's'})` : ''}.</p>
${fieldError('plan', errors.get('plan_id'))}
</div>
${(['deployments', 'self_hosted_workers'] as const).map((resource) => {
  const { label, apiField } = TENANT_FORM_FIELDS[resource];
  const error = errors.get(apiField);
  const inherited = planOf ? limitText(planOf[resource]) : '?';
  return html`<div>
<label for="${resource}">${label}</label>
<input type="text" id="${resource}" name="${resource}" value="${form[resource]}" inputmode="text" autocomplete="off" aria-describedby="${resource}-hint${error ? ` ${resource}-error` : ''}"${error ? html` aria-invalid="true"` : ''}>
<p class="hint" id="${resource}-hint">Empty inherits the plan (${inherited}); a whole number; or <code>${UNLIMITED}</code>.</p>
${fieldError(resource, error)}
</div>`;
})}
</div>
<div class="actions"><button type="submit">Save</button></div>
</form>
</section>

<section class="panel" aria-labelledby="reservations">
<h2 id="reservations">Active reservations and leases</h2>
${
  usage.reservations.length === 0
    ? html`<p class="empty">None held.</p>`
    : html`<table>
<thead><tr><th scope="col">Reservation</th><th scope="col">Resource</th><th scope="col" class="num">Quantity</th><th scope="col">Reference</th><th scope="col">Since</th><th scope="col">Lease ends</th></tr></thead>
<tbody>${usage.reservations.map(
        (reservation) => html`<tr>
<td class="mono">${reservation.reservation_id}</td><td>${RESOURCE_LABELS[reservation.resource]}</td>
<td class="num">${reservation.quantity}</td><td>${reservation.reference ?? '—'}</td>
<td>${timeText(reservation.created_at)}</td><td>${reservation.expires_at ? timeText(reservation.expires_at) : html`<span class="muted">no lease</span>`}</td>
</tr>`,
      )}</tbody></table>`
}
</section>

<section class="panel" aria-labelledby="activity">
<h2 id="activity">Activity</h2>
${activityChart(data.activity, `${tenant.tenant_id}: grants, releases, refusals and expiries per hour, last 7 days`)}
</section>

<section class="panel" aria-labelledby="audit">
<h2 id="audit">Audit trail</h2>
${auditTable(data.audit)}
</section>

<section class="panel" aria-labelledby="orb">
<h2 id="orb">Orb events</h2>
${orbEventsTable(data.events)}
</section>`,
  );
}

function fieldError(field: string, error: string | undefined): Markup | string {
  return error ? html`<p class="field-error" id="${field}-error">${error}</p>` : '';
}

export function auditTable(entries: Output<'listAudit'>['entries']): Markup {
  if (entries.length === 0) return html`<p class="empty">No changes recorded.</p>`;
  return html`<table>
<thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Before → after</th></tr></thead>
<tbody>${entries.map(
    (entry) => html`<tr>
<td>${timeText(entry.at)}</td><td><strong>${entry.actor}</strong></td><td class="mono">${entry.action}</td>
<td class="diff">${changesOf(entry.before, entry.after).map((change) => html`<div>${change}</div>`)}</td>
</tr>`,
  )}</tbody></table>`;
}

/** An audit entry's change, field by field: `overrides.deployments: 5 → 7`; unchanged fields left out. */
export function changesOf(before: unknown, after: unknown): Markup[] {
  const flat = (value: unknown, prefix = '', into = new Map<string, string>()) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) flat(inner, prefix ? `${prefix}.${key}` : key, into);
    } else if (prefix) into.set(prefix, jsonText(value));
    return into;
  };
  const old = flat(before);
  const now = flat(after);
  const keys = [...new Set([...old.keys(), ...now.keys()])].filter((key) => old.get(key) !== now.get(key));
  if (keys.length === 0) return [html`<span class="muted">no change</span>`];
  return keys.map(
    (key) =>
      html`<span class="mono">${key}</span>: <del>${old.get(key) ?? '—'}</del> → <ins>${now.get(key) ?? '—'}</ins>`,
  );
}

export function orbEventsTable(events: Output<'listWebhookEvents'>['events']): Markup {
  if (events.length === 0) return html`<p class="empty">No Orb events.</p>`;
  return html`<table>
<thead><tr><th scope="col">Received</th><th scope="col">Type</th><th scope="col">Customer</th><th scope="col">Outcome</th><th scope="col">Event</th></tr></thead>
<tbody>${events.map(
    (event) => html`<tr>
<td>${timeText(event.received_at)}</td><td class="mono">${event.type}</td><td class="mono">${event.customer_id ?? '—'}</td>
<td><span class="badge ${event.outcome}">${event.outcome}</span></td><td class="mono">${event.event_id}</td>
</tr>`,
  )}</tbody></table>`;
}
