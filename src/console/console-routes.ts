import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { BillingServices } from '../api/context.js';
import { PlanUpdate } from '../contract/admin.js';
import { WebhookOutcome } from '../contract/webhooks.js';
import { orUnavailable } from '../domain/errors.js';
import type { ConsoleSessionStore } from '../domain/operators/console-sessions.js';
import { withBodyLimit } from '../http/body-limit.js';
import { deadlineOf, type ObservedRoutes, type RouteHandler } from '../http/request-observer.js';
import { type AdminApi, adminApiFor, apiFailureOf } from './admin-api.js';
import { formOf, limitInput, tenantChanges } from './forms.js';
import { limitText, RESOURCE_LABELS, RESOURCES, type ResourceName } from './pages/format.js';
import type { Markup } from './pages/layout.js';
import { overviewPage } from './pages/overview.js';
import { confirmPlanPage, type PlanForm, plansPage } from './pages/plans.js';
import { problemPage, signInPage } from './pages/sign-in.js';
import { type TenantForm, type TenantPageData, tenantPage } from './pages/tenant.js';
import { tenantsPage } from './pages/tenants.js';
import { webhooksPage } from './pages/webhooks.js';
import { clientAddressOf, consolePathOr, pathParam, sameOrigin } from './requests.js';
import { type ConsoleSession, createSessionSeal, csrfMatches, SESSION_MAX_AGE_MS } from './session.js';
import { createSignInLimiter } from './sign-in-limiter.js';
import { CONSOLE_CSS, CONSOLE_CSS_PATH } from './styles.js';

/**
 * Everything the console loads comes from this origin, and it runs no script at all: pages are
 * rendered here, forms post to here, the chart is SVG drawn here, and the one stylesheet is a file.
 */
export const CONSOLE_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "style-src 'self'",
  "img-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE_HEADERS = {
  'Content-Security-Policy': CONSOLE_CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  // Pages show tenants' data and carry the session's CSRF token: never kept by a browser or proxy.
  'Cache-Control': 'no-store',
} as const;

export const SESSION_COOKIE = 'billing_console_session';
/** What a change did, shown once on the page the change redirects to. */
const FLASH_COOKIE = 'billing_console_flash';
const FLASH_MAX_AGE_S = 60;
/** The console's forms are a few fields; a larger body is refused unread. */
const MAX_FORM_BYTES = 16 * 1024;

export interface ConsoleOptions {
  /** `BILLING_ADMIN_SECRET`: verifies sign-in tokens, mints the console's calls, and seals its sessions. */
  adminSecret: string;
  services: BillingServices;
  /** The signed-out sessions, refused by every replica. */
  sessions: ConsoleSessionStore;
  now: () => number;
}

interface Flash {
  lines: string[];
  until: number;
}

type Signed = (c: Context, session: ConsoleSession, api: AdminApi) => Promise<Response>;

/**
 * The operator console at `/console`: sign-in with an admin token, then the overview, tenants,
 * plans and webhooks, all through the admin API's own procedures, as the signed-in operator.
 */
export function mountConsole(routes: ObservedRoutes, options: ConsoleOptions): void {
  const { services, now } = options;
  const seal = createSessionSeal(options.adminSecret);
  const limiter = createSignInLimiter();
  const apiFor = adminApiFor(services, options.adminSecret, now);

  const render = async (c: Context, markup: Markup, status: ContentfulStatusCode = 200) =>
    c.html(await markup, status, PAGE_HEADERS);
  const redirect = (c: Context, location: string) =>
    c.body(null, 303, { ...PAGE_HEADERS, Location: location });
  const secure = (c: Context) =>
    new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
  const cookieOptions = (c: Context, maxAgeSeconds: number) =>
    ({
      path: '/console',
      httpOnly: true,
      sameSite: 'Strict',
      secure: secure(c),
      maxAge: maxAgeSeconds,
    }) as const;

  /** The signed-in session, unless it has expired or was signed out (on any replica). */
  const sessionOf = async (c: Context): Promise<ConsoleSession | undefined> => {
    const session = seal.sessionOf(getCookie(c, SESSION_COOKIE), now());
    if (!session) return undefined;
    return (await orUnavailable(options.sessions.isRevoked(session.id))) ? undefined : session;
  };
  const setFlash = (c: Context, lines: string[]) =>
    setCookie(
      c,
      FLASH_COOKIE,
      seal.seal({ lines, until: now() + FLASH_MAX_AGE_S * 1_000 } satisfies Flash),
      cookieOptions(c, FLASH_MAX_AGE_S),
    );
  /** What the last change did, once: the cookie is cleared as it is read. */
  const takeFlash = (c: Context): string[] => {
    const flash = seal.open(getCookie(c, FLASH_COOKIE)) as Partial<Flash> | undefined;
    if (flash === undefined) return [];
    deleteCookie(c, FLASH_COOKIE, { path: '/console' });
    if (!Array.isArray(flash.lines) || !(Number(flash.until) > now())) return [];
    return flash.lines.map(String);
  };

  /** A page only a signed-in operator sees: anyone else is sent to sign in, and comes back after. */
  const page =
    (handler: Signed): RouteHandler =>
    (c) =>
      answerFailures(c, async () => {
        const session = await sessionOf(c);
        if (!session) return redirect(c, `/console/sign-in?${new URLSearchParams({ next: c.req.path })}`);
        return handler(c, session, apiFor(session.subject, deadlineOf(c)));
      });

  /** A state change: a signed-in operator's POST from this console's own form (its CSRF token), from this origin. */
  const action = (
    handler: (
      c: Context,
      session: ConsoleSession,
      api: AdminApi,
      form: Record<string, string>,
    ) => Promise<Response>,
  ): RouteHandler =>
    withBodyLimit(
      (c) =>
        answerFailures(c, async () => {
          const session = await sessionOf(c);
          if (!session)
            return render(
              c,
              problemPage('Signed out', 'Your session has ended: sign in again, then repeat the change.', {
                href: '/console/sign-in',
                text: 'Sign in',
              }),
              401,
            );
          const form = await formOf(c);
          if (!sameOrigin(c) || !csrfMatches(session, form['csrf']))
            return render(
              c,
              problemPage(
                'Refused',
                'This form did not come from this console, or it is older than your session (its CSRF token does not match). Nothing was changed. Reload the page and try again.',
                { href: '/console', text: 'Back to the console' },
              ),
              403,
            );
          return handler(c, session, apiFor(session.subject, deadlineOf(c)), form);
        }),
      { maxBytes: MAX_FORM_BYTES },
    );

  /** A refusal the page does not handle itself, as a page: 404 not found, 503 store down; a 500 is thrown on. */
  const answerFailures = async (c: Context, run: () => Promise<Response>): Promise<Response> => {
    try {
      return await run();
    } catch (error) {
      const failure = apiFailureOf(error, undefined);
      if (failure.status >= 500 && failure.status !== 503) throw error;
      const message = [...failure.fields.values()].join(' ');
      const title = failure.status === 404 ? 'Not found' : failure.status === 503 ? 'Unavailable' : 'Refused';
      return render(
        c,
        problemPage(title, message, { href: '/console', text: 'Back to the overview' }),
        failure.status as ContentfulStatusCode,
      );
    }
  };

  routes.on('GET', CONSOLE_CSS_PATH, (c) =>
    c.body(CONSOLE_CSS, 200, {
      'Content-Type': 'text/css; charset=utf-8',
      'Cache-Control': 'public, max-age=31536000, immutable',
      'X-Content-Type-Options': 'nosniff',
    }),
  );

  routes.on('GET', '/console/sign-in', (c) =>
    answerFailures(c, async () => {
      if (await sessionOf(c)) return redirect(c, '/console');
      return render(c, signInPage({ next: consolePathOr(c.req.query('next')) }));
    }),
  );

  routes.on(
    'POST',
    '/console/sign-in',
    withBodyLimit(
      async (c) => {
        if (!sameOrigin(c))
          return render(
            c,
            problemPage('Refused', 'Sign in from this console’s own page.', {
              href: '/console/sign-in',
              text: 'Sign in',
            }),
            403,
          );
        const form = await formOf(c);
        const next = consolePathOr(form['next']);
        const address = clientAddressOf(c);
        const waitMs = limiter.waitFor(address, now());
        if (waitMs > 0) {
          c.header('Retry-After', String(Math.ceil(waitMs / 1_000)));
          return render(
            c,
            signInPage({
              next,
              problem: `Too many sign-in attempts from your address. Try again in ${Math.ceil(waitMs / 1_000)} seconds.`,
            }),
            429,
          );
        }
        const token = (form['token'] ?? '').trim();
        let subject: string;
        try {
          if (token === '') throw new Error('enter one');
          if (!services.authenticateAdmin) throw new Error('the admin API is off');
          const claims = await services.authenticateAdmin(`Bearer ${token}`);
          subject = String(claims['sub'] ?? '');
          if (subject.trim() === '') throw new Error('the token names no one (no `sub`)');
        } catch (error) {
          limiter.failed(address, now());
          const reason = (error as { detail?: unknown }).detail ?? (error as Error).message;
          return render(
            c,
            signInPage({ next, problem: `That admin token was not accepted: ${String(reason)}.` }),
            401,
          );
        }
        const session = seal.begin(subject, now());
        setCookie(c, SESSION_COOKIE, seal.seal(session), cookieOptions(c, SESSION_MAX_AGE_MS / 1_000));
        return redirect(c, next ?? '/console');
      },
      { maxBytes: MAX_FORM_BYTES },
    ),
  );

  routes.on(
    'POST',
    '/console/sign-out',
    action(async (c, session) => {
      // Recorded before the cookie goes: a copy of it (another tab, a stolen one) is refused too.
      await orUnavailable(options.sessions.revoke(session.id, new Date(session.expiresAt), new Date(now())));
      deleteCookie(c, SESSION_COOKIE, { path: '/console', secure: secure(c) });
      return redirect(c, '/console/sign-in');
    }),
  );

  routes.on(
    'GET',
    '/console',
    page(async (c, session, api) => {
      const since = now() - 24 * 3_600_000;
      const [nearLimits, refusals, activity, failingDeliveries, events] = await Promise.all([
        api.listNearLimits({}),
        api.listRefusals({}),
        api.getActivity({}),
        failingDeliveriesOf(api),
        api.listWebhookEvents({ limit: 100 }),
      ]);
      return render(
        c,
        overviewPage(session, {
          nearLimits: nearLimits.tenants,
          refusals: refusals.refusals,
          activity,
          failingDeliveries,
          orbEvents: events.events.filter((event) => Date.parse(event.received_at) >= since),
        }),
      );
    }),
  );

  routes.on(
    'GET',
    '/console/tenants',
    page(async (c, session, api) => {
      const query = c.req.query('query')?.trim() ?? '';
      const cursor = c.req.query('cursor') || undefined;
      const input = { ...(query ? { query } : {}), ...(cursor ? { cursor } : {}) };
      try {
        return render(c, tenantsPage(session, { query, page: await api.listTenants(input) }));
      } catch (error) {
        const failure = apiFailureOf(error, input);
        if (failure.status !== 422) throw error;
        return render(
          c,
          tenantsPage(session, { query, page: undefined, problem: [...failure.fields.values()].join(' ') }),
          422,
        );
      }
    }),
  );

  const tenantData = async (api: AdminApi, tenantId: string): Promise<TenantPageData> => {
    const tenant = await api.getTenant({ tenantId });
    const [usage, sharing, plans, activity, audit, events] = await Promise.all([
      api.getTenantUsage({ tenantId }),
      api.listTenants({ customer_id: tenant.customer_id, limit: 50 }),
      api.listPlans(),
      api.getActivity({ tenant_id: tenantId }),
      api.listAudit({ subject_id: tenantId, limit: 20 }),
      api.listWebhookEvents({ customer_id: tenant.customer_id, limit: 20 }),
    ]);
    return {
      tenant,
      usage,
      sharing: sharing.tenants,
      plans,
      activity,
      audit: audit.entries,
      events: events.events,
    };
  };

  routes.on(
    'GET',
    '/console/tenants/:tenantId',
    page(async (c, session, api) => {
      const data = await tenantData(api, pathParam(c, 'tenantId'));
      return render(c, tenantPage(session, data, { saved: takeFlash(c) }));
    }),
  );

  routes.on(
    'POST',
    '/console/tenants/:tenantId',
    action(async (c, session, api, body) => {
      const tenantId = pathParam(c, 'tenantId');
      const form: TenantForm = {
        plan: body['plan'] ?? '',
        deployments: (body['deployments'] ?? '').trim(),
        self_hosted_workers: (body['self_hosted_workers'] ?? '').trim(),
      };
      const before = await api.getTenant({ tenantId });
      const overrides: Record<string, unknown> = {};
      for (const resource of RESOURCES) {
        if (form[resource] !== '') overrides[resource] = limitInput(form[resource]);
      }
      const input = { tenantId, ...(form.plan ? { plan_id: form.plan } : {}), overrides };
      let after: Awaited<ReturnType<AdminApi['putTenant']>>;
      try {
        after = await api.putTenant(input as Parameters<AdminApi['putTenant']>[0]);
      } catch (error) {
        const failure = apiFailureOf(error, input);
        if (failure.status !== 422 && failure.status !== 409) throw error;
        const data = await tenantData(api, tenantId);
        return render(c, tenantPage(session, data, { form, errors: failure.fields }), failure.status);
      }
      setFlash(c, tenantChanges(before, after));
      return redirect(c, c.req.path);
    }),
  );

  routes.on(
    'GET',
    '/console/plans',
    page(async (c, session, api) => {
      return render(c, plansPage(session, await api.listPlans(), { saved: takeFlash(c) }));
    }),
  );

  routes.on(
    'POST',
    '/console/plans/:planId',
    action(async (c, session, api, body) => {
      const planId = pathParam(c, 'planId');
      const plans = await api.listPlans();
      const plan = plans.find((candidate) => candidate.plan_id === planId);
      if (!plan)
        return render(
          c,
          problemPage('Not found', `Plan not found: ${planId}`, { href: '/console/plans', text: 'Plans' }),
          404,
        );
      const form: PlanForm = {
        deployments: (body['deployments'] ?? '').trim(),
        self_hosted_workers: (body['self_hosted_workers'] ?? '').trim(),
      };
      const update = {
        deployments: limitInput(form.deployments),
        self_hosted_workers: limitInput(form.self_hosted_workers),
      };
      // The procedure's own input schema, before asking to confirm: a bad value is refused now, in its words.
      const checked = PlanUpdate.safeParse(update);
      if (!checked.success) {
        const lines = checked.error.issues.map(
          (issue) =>
            `${RESOURCE_LABELS[issue.path[0] as ResourceName] ?? issue.path.join('.')}: ${issue.message}`,
        );
        return render(c, plansPage(session, plans, { refused: { planId, lines } }), 422);
      }
      if (body['confirmed'] !== 'yes') return render(c, confirmPlanPage(session, plan, form));
      const after = await api.setPlan({ planId: plan.plan_id, ...checked.data });
      const changed = RESOURCES.filter((resource) => plan[resource] !== after[resource]).map(
        (resource) =>
          `${plan.plan_id} ${RESOURCE_LABELS[resource]}: ${limitText(plan[resource])} → ${limitText(after[resource])}`,
      );
      setFlash(c, changed.length > 0 ? changed : [`${plan.plan_id}: no limit changed`]);
      return redirect(c, '/console/plans');
    }),
  );

  routes.on(
    'GET',
    '/console/webhooks',
    page(async (c, session, api) => {
      const asked = c.req.query('outcome') || undefined;
      const outcome = WebhookOutcome.safeParse(asked).success ? asked : undefined;
      const [events, { endpoints }] = await Promise.all([
        api.listWebhookEvents({ limit: 50, ...(outcome ? { outcome: outcome as WebhookOutcome } : {}) }),
        api.listWebhookEndpoints(),
      ]);
      const withDeliveries = await Promise.all(
        endpoints.map(async (endpoint) => ({
          endpoint,
          deliveries: (await api.listWebhookDeliveries({ endpointId: endpoint.endpoint_id, limit: 20 }))
            .deliveries,
        })),
      );
      return render(
        c,
        webhooksPage(session, {
          outcome,
          events: events.events,
          endpoints: withDeliveries,
          flash: takeFlash(c),
        }),
      );
    }),
  );

  routes.on(
    'POST',
    '/console/webhooks/endpoints/:endpointId/deliveries/:deliveryId/redeliver',
    action(async (c, _session, api) => {
      const endpointId = pathParam(c, 'endpointId');
      const deliveryId = pathParam(c, 'deliveryId');
      await api.redeliverWebhookDelivery({ endpointId, deliveryId });
      setFlash(c, [`Delivery ${deliveryId} is queued to be sent again.`]);
      return redirect(c, '/console/webhooks');
    }),
  );
}

/** The latest failed delivery of each endpoint's last 50, newest first, at most 20. */
async function failingDeliveriesOf(api: AdminApi) {
  const { endpoints } = await api.listWebhookEndpoints();
  const pages = await Promise.all(
    endpoints.map(async (endpoint) => ({
      endpoint,
      deliveries: (await api.listWebhookDeliveries({ endpointId: endpoint.endpoint_id, limit: 50 }))
        .deliveries,
    })),
  );
  return pages
    .flatMap(({ endpoint, deliveries }) =>
      deliveries
        .filter((delivery) => delivery.status === 'failed')
        .map((delivery) => ({ endpoint, delivery })),
    )
    .sort((a, b) => b.delivery.created_at.localeCompare(a.delivery.created_at))
    .slice(0, 20);
}
