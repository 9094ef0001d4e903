import { html } from 'hono/html';
import type { AdminApi } from '../admin-api.js';
import type { ConsoleSession } from '../session.js';
import { limitText, tenantLink } from './format.js';
import { consolePage, type Markup, notice } from './layout.js';

type TenantsPage = Awaited<ReturnType<AdminApi['listTenants']>>;

/** The search and one page of its results; `problem` is the API's refusal of the search. */
export function tenantsPage(
  session: ConsoleSession,
  { query, page, problem }: { query: string; page: TenantsPage | undefined; problem?: string | undefined },
): Markup {
  const searchHref = (cursor?: string) => {
    const params = new URLSearchParams();
    if (query) params.set('query', query);
    if (cursor) params.set('cursor', cursor);
    const search = params.toString();
    return `/console/tenants${search ? `?${search}` : ''}`;
  };
  return consolePage(
    { title: 'Tenants', section: 'Tenants', session },
    html`<h1>Tenants</h1>
<form method="get" action="/console/tenants" class="search" role="search">
<div>
<label for="query">Search tenants</label>
<input type="search" id="query" name="query" value="${query}" aria-describedby="query-hint">
<p class="hint" id="query-hint">The start of a tenant id or a customer id.</p>
</div>
<button type="submit">Search</button>
</form>
${problem ? notice('bad', problem) : ''}
${
  page === undefined
    ? ''
    : page.tenants.length === 0
      ? html`<p class="empty">No tenant or customer id starts with “${query}”.</p>`
      : html`<table>
<caption class="visually-hidden">Tenants${query ? ` starting with ${query}` : ''}</caption>
<thead><tr><th scope="col">Tenant</th><th scope="col">Customer</th><th scope="col">Plan</th><th scope="col" class="num">Deployments</th><th scope="col" class="num">Self-hosted workers</th></tr></thead>
<tbody>${page.tenants.map(
          (tenant) => html`<tr>
<td>${tenantLink(tenant.tenant_id)}</td><td class="mono">${tenant.customer_id}</td><td>${tenant.plan_id}</td>
<td class="num">${limitText(tenant.limits.deployments)}</td><td class="num">${limitText(tenant.limits.self_hosted_workers)}</td>
</tr>`,
        )}</tbody></table>
<nav class="pager" aria-label="Pages">
<a href="${searchHref()}">First page</a>
${page.next_cursor ? html`<a href="${searchHref(page.next_cursor)}" rel="next">Next page</a>` : html`<span class="muted">Last page</span>`}
</nav>`
}`,
  );
}
