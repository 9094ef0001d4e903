/**
 * The console over HTTP, without a browser: who may see it, sessions, CSRF, the sign-in limit,
 * what each form does to the store and what it answers when the API refuses. The same flows in a
 * real browser are in console.browser.test.ts.
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../../src/console/console-routes.js';
import { CONSOLE_CSS_PATH } from '../../src/console/styles.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { ADMIN_SECRET, adminToken, createHarness, sign, useHarness } from '../support/harness.js';
import { rowsOf } from '../support/leases.js';
import { csrfIn, ORIGIN, signedIn } from './console-support.js';

const form = (fields: Record<string, string>, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded', ...headers },
  body: new URLSearchParams(fields),
});

/** One database for the file, but for the plan changes (they change what every tenant reads). */
const h = useHarness({ store: 'pglite' });

describe('console sign-in and sessions', () => {
  it('is there only with the admin API: 404 without an admin secret, and without a store', async () => {
    const without = [
      h.withApp({ config: { adminSecret: undefined } }),
      await createHarness({ store: 'none' }),
    ];
    for (const app of without) {
      for (const path of ['/console', '/console/sign-in', '/console/tenants/org-456', CONSOLE_CSS_PATH]) {
        const response = await app.request(path);
        expect(response.status, path).toBe(404);
        expect(await response.json()).toEqual({ detail: 'Not Found' });
      }
    }
  });

  it('sends a visitor without a session to sign in, and back to the page after', async () => {
    const page = await h.request('/console/tenants/org-456?x=1');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/console/sign-in?next=%2Fconsole%2Ftenants%2Forg-456');
    const signIn = await h.request(page.headers.get('location') ?? '');
    expect(signIn.status).toBe(200);
    const html = await signIn.text();
    expect(html).toContain('<label for="token">Admin token</label>');
    expect(html).toContain('type="password" id="token" name="token"');
    expect(html).toContain('<input type="hidden" name="next" value="/console/tenants/org-456">');
    expect(html).toContain('>Sign in</button>');
    const token = await adminToken();
    const back = await h.request('/console/sign-in', form({ token, next: '/console/tenants/org-456' }));
    expect(back.status).toBe(303);
    expect(back.headers.get('location')).toBe('/console/tenants/org-456');
    expect(back.headers.get('location')).not.toContain(token);
  });

  it('sets a signed, HttpOnly, SameSite=Strict session cookie for /console, valid 8 hours; Secure behind https', async () => {
    const response = await h.request('/console/sign-in', form({ token: await adminToken() }));
    const [cookie = ''] = response.headers.getSetCookie();
    expect(cookie).toMatch(
      new RegExp(
        `^${SESSION_COOKIE}=[\\w-]+\\.[\\w-]+; Max-Age=28800; Path=/console; HttpOnly; SameSite=Strict$`,
      ),
    );
    const proxied = await h.request(
      '/console/sign-in',
      form({ token: await adminToken() }, { 'x-forwarded-proto': 'https' }),
    );
    expect(proxied.headers.getSetCookie()[0]).toContain('; Secure');
  });

  it('refuses a bad token with the reason, and a worker token, and sets no cookie', async () => {
    const cases = [
      ['not-a-token', 'Not enough segments'],
      [
        await adminToken({ secret: 'another-admin-secret-0123456789abcdef' }),
        'Signature verification failed',
      ],
      [await h.workerToken(), 'Signature verification failed'],
      [
        await sign(
          { aud: 'worker', sub: 'alice', exp: Math.floor(Date.now() / 1000) + 60 },
          { secret: ADMIN_SECRET },
        ),
        'Audience doesn&#39;t match',
      ],
      ['', 'That admin token was not accepted: enter one.'],
    ] as const;
    for (const [token, reason] of cases) {
      const response = await h.request('/console/sign-in', form({ token }));
      expect(response.status, token).toBe(401);
      expect(response.headers.getSetCookie()).toEqual([]);
      const html = await response.text();
      expect(html).toContain('That admin token was not accepted');
      expect(html).toContain(reason);
      expect(html).toContain('aria-invalid="true"');
    }
  });

  it('keeps the token out of every URL and log line, a refused one too', async () => {
    const lines: string[] = [];
    const logged = h.withApp({
      dependencies: {
        logger: createLogger({
          level: 'debug',
          destination: { write: (line: string) => void lines.push(line) },
        }),
      },
    });
    const token = await adminToken();
    const refused = `${token.slice(0, -4)}AAAA`;
    for (const tried of [token, refused]) {
      const response = await logged.request(
        '/console/sign-in',
        form({ token: tried, next: '/console/plans' }),
      );
      expect(response.headers.get('location') ?? '').not.toContain(tried.slice(0, 20));
    }
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.join('\n')).toContain('/console/sign-in');
    for (const tried of [token, refused]) expect(lines.join('\n')).not.toContain(tried.split('.')[1]);
  });

  it('goes back only to console pages after signing in', async () => {
    const token = await adminToken();
    for (const next of [
      '//evil.example/console',
      'https://evil.example/console',
      '/consolex',
      '/console/\\evil',
      '/docs',
    ]) {
      const response = await h.request('/console/sign-in', form({ token, next }));
      expect(response.headers.get('location'), next).toBe('/console');
    }
  });

  it('refuses a sign-in posted from another site', async () => {
    const token = await adminToken();
    for (const headers of [
      { origin: 'https://evil.example' },
      { 'sec-fetch-site': 'cross-site' },
      { origin: 'null' },
    ] as Record<string, string>[]) {
      const response = await h.request('/console/sign-in', form({ token }, headers));
      expect(response.status, JSON.stringify(headers)).toBe(403);
      expect(response.headers.getSetCookie()).toEqual([]);
    }
  });

  it('ends every session when the admin secret changes, and when the session is 8 hours old', async () => {
    // An app of its own, so that moving its clock does not expire the other tests' tokens.
    const app = h.withApp({});
    const visitor = await signedIn(app);
    expect((await visitor.get('/console/plans')).status).toBe(200);
    const rotated = app.withApp({ config: { adminSecret: `${ADMIN_SECRET}-rotated` } });
    const after = await rotated.request('/console/plans', { headers: { cookie: visitor.cookie } });
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toContain('/console/sign-in');
    await app.clock.advance(8 * 3_600_000 - 60_000);
    expect((await visitor.get('/console/plans')).status).toBe(200);
    await app.clock.advance(60_000);
    const expired = await visitor.get('/console/plans');
    expect(expired.status).toBe(303);
  });

  it('signs out everywhere: the cookie is cleared, and a copy of it is refused by every replica', async () => {
    const visitor = await signedIn(h);
    const copied = visitor.cookie;
    const otherSession = await signedIn(h);
    // Signing out without the form's token is refused, like any other change: the session goes on.
    const forged = await h.request('/console/sign-out', {
      ...form({}),
      headers: { cookie: copied, origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(forged.status).toBe(403);
    expect((await visitor.get('/console/tenants')).status).toBe(200);

    const out = await visitor.post('/console/sign-out', {});
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/console/sign-in');
    expect(out.headers.getSetCookie()[0]).toMatch(
      new RegExp(`^${SESSION_COOKIE}=; Max-Age=0; Path=/console`),
    );
    expect(visitor.cookie).not.toContain(SESSION_COOKIE);
    expect((await visitor.get('/console/tenants')).status).toBe(303);
    // A copy of the cookie (another tab, a stolen one), here and on another replica of the store.
    for (const app of [h, h.withApp({})]) {
      const page = await app.request('/console/tenants', { headers: { cookie: copied } });
      expect(page.status).toBe(303);
      expect(page.headers.get('location')).toBe('/console/sign-in?next=%2Fconsole%2Ftenants');
      const signIn = await app.request('/console/sign-in', { headers: { cookie: copied } });
      expect(signIn.status).toBe(200);
      const change = await app.request('/console/sign-out', {
        ...form({ csrf: visitor.csrf }),
        headers: { cookie: copied, origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(change.status).toBe(401);
    }
    // The same operator's other session is its own.
    expect((await otherSession.get('/console/tenants')).status).toBe(200);
  });

  it('keeps a sign-out until its session would have ended (pruning: test/db/console-session-store)', async () => {
    const signedInAt = Date.now();
    expect((await (await signedIn(h)).post('/console/sign-out', {})).status).toBe(303);
    const hours8 = 8 * 3_600_000;
    const [row] = await rowsOf(
      h.db,
      sql`select count(*)::int as n from console_session_revocation
          where expires_at between ${new Date(signedInAt + hours8)} and ${new Date(Date.now() + hours8)}`,
    );
    expect(row?.['n']).toBe(1);
  });

  it('serves pages with a Content-Security-Policy allowing no script, uncached, and the stylesheet cached for good', async () => {
    const visitor = await signedIn(h);
    for (const path of ['/console/sign-in', '/console/plans']) {
      const response = await (path === '/console/sign-in' ? h.request(path) : visitor.get(path));
      expect(response.headers.get('content-security-policy')).toBe(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
      );
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      const html = await response.text();
      expect(html).not.toMatch(/<script|style="|\son\w+=/i);
      expect(html).toContain(`<link rel="stylesheet" href="${CONSOLE_CSS_PATH}">`);
    }
    const css = await h.request(CONSOLE_CSS_PATH);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(css.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  });
});

describe('console sign-in limit', () => {
  it('refuses every attempt for the rest of the minute once an address failed 10 times, with Retry-After', async () => {
    // An app of its own: its own limiter and clock.
    const app = h.withApp({});
    const token = await adminToken();
    for (let attempt = 1; attempt <= 10; attempt++) {
      // Signing in does not count: an operator who signs in often is never locked out.
      expect((await app.request('/console/sign-in', form({ token }))).status).toBe(303);
      expect(
        (await app.request('/console/sign-in', form({ token: 'wrong' }))).status,
        `attempt ${attempt}`,
      ).toBe(401);
    }
    await app.clock.advance(1_000);
    const refused = await app.request('/console/sign-in', form({ token }));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('59');
    expect(refused.headers.getSetCookie()).toEqual([]);
    expect(await refused.text()).toContain(
      'Too many sign-in attempts from your address. Try again in 59 seconds.',
    );
    await app.clock.advance(59_000);
    expect((await app.request('/console/sign-in', form({ token }))).status).toBe(303);
  });
});

describe('console changes', () => {
  it('refuses a change without the session’s CSRF token, or from another origin, and changes nothing', async () => {
    const tenant = await h.tenant('free');
    const visitor = await signedIn(h);
    const path = `/console/tenants/${tenant}`;
    for (const [fields, headers] of [
      [{ csrf: '' }, {}],
      [{ csrf: 'x'.repeat(43) }, {}],
      [{}, { origin: 'https://evil.example' }],
      [{}, { 'sec-fetch-site': 'cross-site' }],
    ] as const) {
      const response = await visitor.post(
        path,
        { plan: 'free', deployments: '7', self_hosted_workers: '', ...fields },
        headers,
      );
      expect(response.status).toBe(403);
      expect(await response.text()).toContain('its CSRF token does not match');
    }
    const noCsrf = await h.request(path, {
      method: 'POST',
      headers: {
        cookie: visitor.cookie,
        origin: ORIGIN,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ plan: 'free', deployments: '7' }),
    });
    expect(noCsrf.status).toBe(403);
    expect((await h.limits(tenant)).deployments).toBe(1);
  });

  it('refuses a change without a session', async () => {
    const tenant = await h.tenant('free');
    const response = await h.request(`/console/tenants/${tenant}`, form({ plan: 'free', deployments: '7' }));
    expect(response.status).toBe(401);
    expect(await response.text()).toContain('Your session has ended');
    expect((await h.limits(tenant)).deployments).toBe(1);
  });

  it('saves overrides (a number, unlimited, empty to inherit), shows what changed once, and audits the operator', async () => {
    const tenant = await h.tenant('free', { overrides: { self_hosted_workers: 4 } });
    const visitor = await signedIn(h, 'bob');
    const path = `/console/tenants/${tenant}`;
    const saved = await visitor.post(path, {
      plan: 'free',
      deployments: ' 7 ',
      self_hosted_workers: 'Unlimited',
    });
    expect(saved.status).toBe(303);
    expect(saved.headers.get('location')).toBe(path);
    expect(await h.limits(tenant)).toEqual({ deployments: 7, self_hosted_workers: null, plan_type: 'free' });
    const page = await (await visitor.get(path)).text();
    expect(page).toContain('Deployments override: inherit (1) → 7');
    expect(page).toContain('Self-hosted workers override: 4 → unlimited');
    expect(page).toContain('id="deployments" name="deployments" value="7"');
    expect(page).toMatch(/<strong>bob<\/strong><\/td><td class="mono">tenant\.put<\/td>/);
    // The confirmation is shown once.
    expect(await (await visitor.get(path)).text()).not.toContain('inherit (1) → 7');
    const inherit = await visitor.post(path, { plan: 'growth', deployments: '', self_hosted_workers: '' });
    expect(inherit.status).toBe(303);
    expect(await h.limits(tenant)).toEqual({
      deployments: 5,
      self_hosted_workers: null,
      plan_type: 'growth',
    });
  });

  it('shows the API’s error next to a bad value, keeps what was typed, and writes nothing', async () => {
    const tenant = await h.tenant('free');
    const visitor = await signedIn(h);
    const path = `/console/tenants/${tenant}`;
    for (const [typed, message] of [
      ['-1', 'Input should be greater than or equal to 0'],
      ['ten', 'Input should be a valid integer'],
      ['1000000001', 'Input should be less than or equal to 1000000000'],
    ] as const) {
      const response = await visitor.post(path, {
        plan: 'growth',
        deployments: typed,
        self_hosted_workers: '',
      });
      expect(response.status, typed).toBe(422);
      const page = await response.text();
      expect(page).toContain('Nothing was saved');
      expect(page).toMatch(new RegExp(`<p class="field-error" id="deployments-error">${message}`));
      expect(page).toContain(`id="deployments" name="deployments" value="${typed}"`);
      expect(page).toContain('aria-describedby="deployments-hint deployments-error" aria-invalid="true"');
    }
    expect(await h.limits(tenant)).toEqual({ deployments: 1, self_hosted_workers: 5, plan_type: 'free' });
  });

  it('refuses an unknown plan next to the Plan field', async () => {
    const tenant = await h.tenant('free');
    const visitor = await signedIn(h);
    const response = await visitor.post(`/console/tenants/${tenant}`, { plan: 'platinum', deployments: '' });
    expect(response.status).toBe(422);
    expect(await response.text()).toContain('<p class="field-error" id="plan-error">');
  });

  it('answers 503 with a page when the store cannot be reached, and 422 for an id that cannot be one', async () => {
    const tenant = await h.tenant('free');
    const down = new Error('connect ECONNREFUSED 127.0.0.1:5432');
    const store = { ...h.store, tenants: { ...h.store.tenants, findTenant: () => Promise.reject(down) } };
    const app = h.withApp({ dependencies: { store } });
    const visitor = await signedIn(app);
    const page = await visitor.get(`/console/tenants/${tenant}`);
    expect(page.status).toBe(503);
    const html = await page.text();
    expect(html).toContain('<h1>Unavailable</h1>');
    expect(html).toContain('Limits store unavailable');
    expect(html).not.toContain('ECONNREFUSED');
    const saved = await visitor.post(`/console/tenants/${tenant}`, { plan: 'free', deployments: '3' });
    expect(saved.status).toBe(503);
    expect((await h.limits(tenant)).deployments).toBe(1);
    const tooLong = await (await signedIn(h)).get(`/console/tenants/${'x'.repeat(256)}`);
    expect(tooLong.status).toBe(422);
    expect(await tooLong.text()).toContain('<h1>Refused</h1>');
  });

  it('answers 503 with a page when the sign-outs cannot be read: a session is not taken on trust', async () => {
    const down = new Error('connect ECONNREFUSED 127.0.0.1:5432');
    const sessions = { ...h.store.consoleSessions, isRevoked: () => Promise.reject(down) };
    const app = h.withApp({ dependencies: { store: { ...h.store, consoleSessions: sessions } } });
    const signIn = await app.request('/console/sign-in', {
      method: 'POST',
      headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: await h.adminToken() }),
    });
    expect(signIn.status).toBe(303);
    const cookie = signIn.headers.getSetCookie()[0]?.split(';')[0] ?? '';
    const page = await app.request('/console/tenants', { headers: { cookie } });
    expect(page.status).toBe(503);
    const html = await page.text();
    expect(html).toContain('<h1>Unavailable</h1>');
    expect(html).not.toContain('ECONNREFUSED');
    const signOut = await app.request('/console/sign-out', {
      ...form({ csrf: 'x' }),
      headers: { cookie, origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(signOut.status).toBe(503);
  });

  it('answers 404 for a tenant that is not there', async () => {
    const visitor = await signedIn(h);
    const page = await visitor.get('/console/tenants/org-nobody-here');
    expect(page.status).toBe(404);
    expect(await page.text()).toContain('Tenant not found');
    const post = await visitor.post('/console/tenants/org-nobody-here', { plan: 'free', deployments: '3' });
    expect(post.status).toBe(404);
  });
});

describe('console plan changes', () => {
  // A database of its own: these tests change the plan catalog every tenant reads.
  const h = useHarness({ store: 'pglite' });

  it('asks to confirm, naming how many tenants it affects, then changes the plan', async () => {
    await h.tenant('growth');
    await h.tenant('growth');
    const visitor = await signedIn(h);
    const plans = await (await visitor.get('/console/plans')).text();
    const growthRow = plans.slice(plans.indexOf('<th scope="row">growth</th>'));
    expect(growthRow).toMatch(/^<th scope="row">growth<\/th>\s*<td class="num">(\d+)<\/td>/);
    const count = Number(/^<th scope="row">growth<\/th>\s*<td class="num">(\d+)<\/td>/.exec(growthRow)?.[1]);
    expect(count).toBeGreaterThanOrEqual(2);

    const ask = await visitor.post('/console/plans/growth', {
      deployments: '9',
      self_hosted_workers: 'unlimited',
    });
    expect(ask.status).toBe(200);
    const confirm = await ask.text();
    expect(confirm).toContain(`This changes the limits of ${count} tenants on plan growth.`);
    expect(confirm).toContain('Deployments: 5 → 9');
    const [before] = (
      (await (await h.asAdmin('/admin/plans')).json()) as { plan_id: string; deployments: number | null }[]
    ).filter((p: { plan_id: string }) => p.plan_id === 'growth');
    expect(before?.deployments).toBe(5);

    const done = await visitor.post('/console/plans/growth', {
      deployments: '9',
      self_hosted_workers: 'unlimited',
      confirmed: 'yes',
    });
    expect(done.status).toBe(303);
    const after = await (await visitor.get('/console/plans')).text();
    expect(after).toContain('growth Deployments: 5 → 9');
    const [plan] = (
      (await (await h.asAdmin('/admin/plans')).json()) as { plan_id: string; deployments: number | null }[]
    ).filter((p: { plan_id: string }) => p.plan_id === 'growth');
    expect(plan).toMatchObject({ deployments: 9, self_hosted_workers: null });
  });

  it('refuses a bad limit before asking, and an unknown plan', async () => {
    const visitor = await signedIn(h);
    const bad = await visitor.post('/console/plans/free', { deployments: '-3', self_hosted_workers: '1' });
    expect(bad.status).toBe(422);
    expect(await bad.text()).toContain('Plan free was not changed');
    const unknown = await visitor.post('/console/plans/platinum', {
      deployments: '3',
      self_hosted_workers: '1',
    });
    expect(unknown.status).toBe(404);
  });
});

describe('console pages', () => {
  it('lists and searches tenants by a prefix of the tenant or customer id, a page at a time', async () => {
    const visitor = await signedIn(h);
    const prefix = `org-srch${Date.now() % 100000}`;
    for (const suffix of ['a', 'b', 'c']) {
      await h.store.tenants.putTenant(
        `${prefix}-${suffix}`,
        { plan_id: 'free', customer_id: `cus-${prefix}` },
        'test',
      );
    }
    const page = await (await visitor.get(`/console/tenants?query=${prefix}`)).text();
    expect(page).toContain('<label for="query">Search tenants</label>');
    for (const suffix of ['a', 'b', 'c'])
      expect(page).toContain(`<a href="/console/tenants/${prefix}-${suffix}">`);
    const byCustomer = await (await visitor.get(`/console/tenants?query=cus-${prefix}`)).text();
    expect(byCustomer).toContain(`${prefix}-a`);
    const many = `org-page${Date.now() % 100000}`;
    for (let i = 0; i < 51; i++) {
      await h.store.tenants.putTenant(`${many}-${String(i).padStart(2, '0')}`, { plan_id: 'free' }, 'test');
    }
    const first = await (await visitor.get(`/console/tenants?query=${many}`)).text();
    expect(first.match(/<a href="\/console\/tenants\/org-page/g)).toHaveLength(50);
    const next = /<a href="([^"]+)" rel="next">Next page<\/a>/.exec(first)?.[1]?.replaceAll('&amp;', '&');
    expect(next).toMatch(new RegExp(`^/console/tenants\\?query=${many}&cursor=`));
    const second = await (await visitor.get(next ?? '')).text();
    expect([...second.matchAll(/<a href="\/console\/tenants\/(org-page[^"]+)">/g)].map((m) => m[1])).toEqual([
      `${many}-50`,
    ]);
    expect(second).toContain('<span class="muted">Last page</span>');
    const none = await (await visitor.get('/console/tenants?query=zzz-nothing')).text();
    expect(none).toContain('No tenant or customer id starts with “zzz-nothing”.');
    const bad = await visitor.get('/console/tenants?cursor=not-a-cursor');
    expect(bad.status).toBe(422);
  });

  it('renders the overview, the plans and the webhooks page', async () => {
    const visitor = await signedIn(h);
    for (const [path, heading] of [
      ['/console', 'Overview'],
      ['/console/plans', 'Plans'],
      ['/console/webhooks', 'Webhooks'],
      ['/console/webhooks?outcome=applied', 'Webhooks'],
      ['/console/webhooks?outcome=nonsense', 'Webhooks'],
    ] as const) {
      const response = await visitor.get(path);
      expect(response.status, path).toBe(200);
      const page = await response.text();
      expect(page).toContain(`<h1>${heading}</h1>`);
      expect(page).toContain(`aria-current="page">${heading}</a>`);
      expect(csrfIn(page)).toBe(visitor.csrf);
    }
  });
});
