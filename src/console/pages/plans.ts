import { html } from 'hono/html';
import type { AdminApi } from '../admin-api.js';
import type { ConsoleSession } from '../session.js';
import { limitText, RESOURCE_LABELS, RESOURCES } from './format.js';
import { consolePage, type Markup, notice } from './layout.js';

type Plans = Awaited<ReturnType<AdminApi['listPlans']>>;
type Plan = Plans[number];

/** A plan's limits as typed in its form. */
export interface PlanForm {
  readonly deployments: string;
  readonly self_hosted_workers: string;
}

function softText(plan: Plan): string {
  const soft = RESOURCES.filter((resource) => plan.soft_limits[resource]).map(
    (resource) =>
      `${RESOURCE_LABELS[resource]}: soft, overage cap ${limitText(plan.soft_limits[resource]?.overage_cap ?? null)}`,
  );
  return soft.length === 0 ? 'hard' : soft.join('; ');
}

/** The catalog, each plan with its limits, soft-limit policy, tenants, and a form to change its limits. */
export function plansPage(
  session: ConsoleSession,
  plans: Plans,
  {
    saved = [],
    refused,
  }: { saved?: readonly string[]; refused?: { planId: string; lines: readonly string[] } | undefined } = {},
): Markup {
  return consolePage(
    { title: 'Plans', section: 'Plans', session },
    html`<h1>Plans</h1>
${saved.length > 0 ? notice('ok', 'Saved', saved) : ''}
${refused ? notice('bad', `Plan ${refused.planId} was not changed: the API refused it.`, refused.lines) : ''}
<table>
<thead><tr><th scope="col">Plan</th><th scope="col" class="num">Tenants</th><th scope="col">Soft limits</th><th scope="col">Orb plan</th><th scope="col">Limits</th></tr></thead>
<tbody>${plans.map(
      (plan) => html`<tr>
<th scope="row">${plan.plan_id}</th>
<td class="num">${plan.tenant_count}</td>
<td>${softText(plan)}</td>
<td class="mono">${plan.orb_external_plan_id ?? '—'}</td>
<td><form method="post" action="/console/plans/${plan.plan_id}" class="plan-form">
<input type="hidden" name="csrf" value="${session.csrf}">
${RESOURCES.map(
  (
    resource,
  ) => html`<label class="visually-hidden" for="${plan.plan_id}-${resource}">${plan.plan_id}: ${RESOURCE_LABELS[resource]}</label>
<span class="muted">${RESOURCE_LABELS[resource]}</span>
<input type="text" id="${plan.plan_id}-${resource}" name="${resource}" value="${limitText(plan[resource])}" autocomplete="off">`,
)}
<button type="submit" class="secondary">Change</button>
</form></td>
</tr>`,
    )}</tbody>
</table>
<p class="hint">A limit is a whole number or <code>unlimited</code>. A change asks for confirmation first, naming how many tenants it affects.</p>`,
  );
}

/** "Change plan growth for 12 tenants?", with what changes, and the confirmed form. */
export function confirmPlanPage(session: ConsoleSession, plan: Plan, form: PlanForm): Markup {
  const changes = RESOURCES.filter((resource) => limitText(plan[resource]) !== form[resource]).map(
    (resource) => `${RESOURCE_LABELS[resource]}: ${limitText(plan[resource])} → ${form[resource]}`,
  );
  const tenants = `${plan.tenant_count} tenant${plan.tenant_count === 1 ? '' : 's'}`;
  return consolePage(
    { title: `Change plan ${plan.plan_id}`, section: 'Plans', session },
    html`<h1>Change plan ${plan.plan_id}?</h1>
${notice('warn', `This changes the limits of ${tenants} on plan ${plan.plan_id}.`, changes.length > 0 ? changes : ['No limit changes.'])}
<form method="post" action="/console/plans/${plan.plan_id}">
<input type="hidden" name="csrf" value="${session.csrf}">
<input type="hidden" name="confirmed" value="yes">
${RESOURCES.map((resource) => html`<input type="hidden" name="${resource}" value="${form[resource]}">`)}
<button type="submit">Confirm: change ${tenants}</button>
<a class="button secondary" href="/console/plans">Cancel</a>
</form>`,
  );
}
