import { html } from 'hono/html';
import { WEBHOOK_OUTCOMES } from '../../contract/webhooks.js';
import type { AdminApi } from '../admin-api.js';
import type { ConsoleSession } from '../session.js';
import { tenantLink, timeText } from './format.js';
import { consolePage, type Markup, notice } from './layout.js';
import { orbEventsTable } from './tenant.js';

type Output<Name extends keyof AdminApi> = Awaited<ReturnType<AdminApi[Name]>>;
export type Endpoint = Output<'listWebhookEndpoints'>['endpoints'][number];
export type Delivery = Output<'listWebhookDeliveries'>['deliveries'][number];

/** A delivery may be sent again once it is done with: delivered, or given up on. */
export const redeliverable = (delivery: Delivery) => delivery.status !== 'pending';

export function deliveriesTable(
  session: ConsoleSession,
  rows: readonly { endpoint: Endpoint; delivery: Delivery }[],
  { withEndpoint }: { withEndpoint: boolean },
): Markup {
  if (rows.length === 0) return html`<p class="empty">No deliveries.</p>`;
  return html`<table>
<thead><tr>${withEndpoint ? html`<th scope="col">Endpoint</th>` : ''}<th scope="col">Event</th><th scope="col">Tenant</th><th scope="col">Status</th><th scope="col" class="num">Attempts</th><th scope="col">Last answer</th><th scope="col">Created</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
<tbody>${rows.map(
    ({ endpoint, delivery }) => html`<tr>
${withEndpoint ? html`<td class="mono">${endpoint.url}</td>` : ''}
<td class="mono">${delivery.event_type} #${delivery.sequence}</td>
<td>${delivery.tenant_id ? tenantLink(delivery.tenant_id) : '—'}</td>
<td><span class="badge ${delivery.status}">${delivery.status}</span></td>
<td class="num">${delivery.attempts}</td>
<td>${delivery.last_error ?? delivery.last_status_code ?? '—'}</td>
<td>${timeText(delivery.created_at)}</td>
<td>${
      redeliverable(delivery)
        ? html`<form method="post" class="inline-form" action="/console/webhooks/endpoints/${endpoint.endpoint_id}/deliveries/${delivery.delivery_id}/redeliver">
<input type="hidden" name="csrf" value="${session.csrf}">
<button type="submit" class="secondary" aria-label="Redeliver ${delivery.event_type} #${delivery.sequence} to ${endpoint.url}">Redeliver</button>
</form>`
        : ''
    }</td>
</tr>`,
  )}</tbody></table>`;
}

export function webhooksPage(
  session: ConsoleSession,
  {
    outcome,
    events,
    endpoints,
    flash = [],
  }: {
    outcome: string | undefined;
    events: Output<'listWebhookEvents'>['events'];
    endpoints: readonly { endpoint: Endpoint; deliveries: readonly Delivery[] }[];
    flash?: readonly string[];
  },
): Markup {
  return consolePage(
    { title: 'Webhooks', section: 'Webhooks', session },
    html`<h1>Webhooks</h1>
${flash.length > 0 ? notice('ok', 'Done', flash) : ''}
<section class="panel" aria-labelledby="inbound">
<h2 id="inbound">Orb events received</h2>
<form method="get" action="/console/webhooks" class="search">
<div>
<label for="outcome">Outcome</label>
<select id="outcome" name="outcome">
<option value=""${outcome ? '' : html` selected`}>every outcome</option>
${WEBHOOK_OUTCOMES.map((name) => html`<option value="${name}"${name === outcome ? html` selected` : ''}>${name}</option>`)}
</select>
</div>
<button type="submit">Filter</button>
</form>
${orbEventsTable(events)}
</section>
<section class="panel" aria-labelledby="outbound">
<h2 id="outbound">Outbound endpoints</h2>
${
  endpoints.length === 0
    ? html`<p class="empty">No endpoints. Add one with <code>POST /admin/webhook-endpoints</code>.</p>`
    : endpoints.map(
        ({ endpoint, deliveries }) => html`<h3 class="mono">${endpoint.url}</h3>
<p class="muted">${endpoint.description || 'no description'} · events: ${endpoint.events.join(', ')} · ${
          endpoint.disabled_at
            ? html`<span class="badge failed">disabled ${timeText(endpoint.disabled_at)}: ${endpoint.disabled_reason}</span>`
            : 'enabled'
        }</p>
${deliveriesTable(
  session,
  deliveries.map((delivery) => ({ endpoint, delivery })),
  { withEndpoint: false },
)}`,
      )
}
</section>`,
  );
}
