import { html } from 'hono/html';
import type { AdminApi } from '../admin-api.js';
import type { ConsoleSession } from '../session.js';
import { activityChart } from './chart.js';
import { RESOURCE_LABELS, tenantLink, timeText, usageBar } from './format.js';
import { consolePage, type Markup } from './layout.js';
import { orbEventsTable } from './tenant.js';
import { type Delivery, deliveriesTable, type Endpoint } from './webhooks.js';

type Output<Name extends keyof AdminApi> = Awaited<ReturnType<AdminApi[Name]>>;

export interface OverviewData {
  readonly nearLimits: Output<'listNearLimits'>['tenants'];
  readonly refusals: Output<'listRefusals'>['refusals'];
  readonly activity: Output<'getActivity'>;
  readonly failingDeliveries: readonly { endpoint: Endpoint; delivery: Delivery }[];
  readonly orbEvents: Output<'listWebhookEvents'>['events'];
}

export function overviewPage(session: ConsoleSession, data: OverviewData): Markup {
  return consolePage(
    { title: 'Overview', section: 'Overview', session },
    html`<h1>Overview</h1>
<div class="grid">
<section class="panel" aria-labelledby="near">
<h2 id="near">Near or over a limit</h2>
${
  data.nearLimits.length === 0
    ? html`<p class="empty">No tenant uses 80 % or more of a limit.</p>`
    : html`<table>
<thead><tr><th scope="col">Tenant</th><th scope="col">Resource</th><th scope="col">Usage</th><th scope="col" class="num">%</th></tr></thead>
<tbody>${data.nearLimits.map(
        (row) => html`<tr><td>${tenantLink(row.tenant_id)}</td><td>${RESOURCE_LABELS[row.resource]}</td>
<td>${usageBar(row.resource, row.used, row.limit)}</td><td class="num">${row.percent}</td></tr>`,
      )}</tbody></table>`
}
</section>
<section class="panel" aria-labelledby="refusals">
<h2 id="refusals">Refusals, last 24 hours</h2>
${
  data.refusals.length === 0
    ? html`<p class="empty">Nothing refused.</p>`
    : html`<table>
<thead><tr><th scope="col">Tenant</th><th scope="col">Resource</th><th scope="col" class="num">Refusals</th><th scope="col">Latest hour</th></tr></thead>
<tbody>${data.refusals.map(
        (row) => html`<tr><td>${tenantLink(row.tenant_id)}</td><td>${RESOURCE_LABELS[row.resource]}</td>
<td class="num">${row.refusals}</td><td>${timeText(row.last_hour)}</td></tr>`,
      )}</tbody></table>`
}
</section>
</div>
<section class="panel" aria-labelledby="activity">
<h2 id="activity">Activity, every tenant</h2>
${activityChart(data.activity, 'Grants, releases, refusals and expiries per hour, last 7 days')}
</section>
<section class="panel" aria-labelledby="failing">
<h2 id="failing">Failing webhook deliveries</h2>
${deliveriesTable(session, data.failingDeliveries, { withEndpoint: true })}
</section>
<section class="panel" aria-labelledby="orb">
<h2 id="orb">Orb events, last 24 hours</h2>
${orbEventsTable(data.orbEvents)}
</section>`,
  );
}
