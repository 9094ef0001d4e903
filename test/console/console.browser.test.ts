/**
 * The console in a real browser (Debian's Chromium through playwright-core), served by the app on
 * a loopback socket, every other host blocked: an operator signs in, finds org-456, gives it 7
 * deployments, sees the Engine's answer change and the audit trail name them, is refused a bad
 * value, signs out. Keyboard only, too. The README's screenshots are taken here.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DrainableServer, listen } from '../../src/http/node-server.js';
import { NO_PROBLEMS, type PageProblems, useBrowser } from '../support/browser.js';
import { type Harness, useHarness } from '../support/harness.js';
import { orbDelivery, subscriptionEvent } from '../support/orb.js';

const screenshot = (name: string) =>
  fileURLToPath(new URL(`../../docs/images/console-${name}.png`, import.meta.url));

/** What a page shows when a test provoked one refusal on purpose: that answer, and Chromium's line about it. */
const refusedOnce = (status: number, reason: string, url: string): PageProblems => ({
  ...NO_PROBLEMS,
  consoleErrors: [
    `Failed to load resource: the server responded with a status of ${status} (${reason}) (${url}:0)`,
  ],
  errorResponses: [`${status} POST ${url}`],
});

async function reserve(h: Harness, tenant: string, resource: string, quantity: number, lease = false) {
  return h.asWorker('/billing/reservations', {
    method: 'POST',
    headers: { 'tenant-id': tenant, 'content-type': 'application/json' },
    body: JSON.stringify({
      resource,
      quantity,
      idempotency_key: randomUUID(),
      ...(lease ? { lease_seconds: 3_600 } : {}),
      reference: `deploy-${randomUUID().slice(0, 6)}`,
    }),
  });
}

/** The demo data the screenshots show: usage, leases, refusals, Orb events, a failing endpoint. */
async function seed(h: Harness) {
  const put = (tenant: string, update: Parameters<Harness['store']['tenants']['putTenant']>[1]) =>
    h.store.tenants.putTenant(tenant, update, 'seed');
  await put('org-456', { plan_id: 'growth', customer_id: 'cus_acme' });
  await put('org-457', { plan_id: 'growth', customer_id: 'cus_acme' });
  await put('org-123', { plan_id: 'free' });
  await put('org-789', { plan_id: 'enterprise' });
  await put('org-900', { plan_id: 'free', overrides: { deployments: 4 } });
  for (let i = 0; i < 3; i++) await reserve(h, 'org-456', 'deployments', 1, i === 0);
  await reserve(h, 'org-456', 'self_hosted_workers', 2);
  await reserve(h, 'org-123', 'deployments', 1);
  await reserve(h, 'org-123', 'deployments', 1); // refused: free allows 1
  await reserve(h, 'org-900', 'deployments', 4);
  for (let i = 0; i < 2; i++) await reserve(h, 'org-900', 'deployments', 1); // refused
  for (const [id, plan] of [
    ['evt_1', 'growth'],
    ['evt_2', 'orb-unknown'],
  ] as const) {
    await h.request(
      '/webhooks/orb',
      orbDelivery(subscriptionEvent({ id, type: 'subscription.plan_changed', customer: 'cus_acme', plan })),
    );
  }
}

describe('the console in Chromium', () => {
  const h = useHarness({
    store: 'pglite',
    config: { webhookAllowPrivate: true },
    dependencies: { dispatcher: { pollMs: 50, retryDelaysMs: [] } },
  });
  const browser = useBrowser();
  let server: DrainableServer;
  /** A webhook receiver that is down (every delivery answered 500), for the failing deliveries. */
  let failingReceiver: Server;

  beforeAll(async () => {
    await seed(h);
    failingReceiver = createServer((_, response) => response.writeHead(500).end()).listen(0, '127.0.0.1');
    await once(failingReceiver, 'listening');
    const { port } = failingReceiver.address() as AddressInfo;
    await h.asAdmin('/admin/webhook-endpoints', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        url: `http://127.0.0.1:${port}/hook`,
        description: 'Billing alerts',
        events: ['limit.reached'],
      }),
    });
    await reserve(h, 'org-456', 'deployments', 2); // reaches 5 of 5: limit.reached, which the receiver refuses
    server = await listen(h.app.fetch, { port: 0, hostname: '127.0.0.1' });
  });
  afterAll(async () => {
    await server?.close(1_000);
    failingReceiver?.close();
  });

  const url = (path: string) => `${server.origin}${path}`;

  async function signIn(page: Page, next = '/console') {
    await page.goto(url(next));
    await page.getByLabel('Admin token').fill(await h.adminToken('alice'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  }

  it('signs in, finds org-456, sets 7 deployments; the Engine gets 7; the audit names the operator; -1 is refused; signs out', async () => {
    const tab = await browser.open(url('/console'));
    const { page } = tab;
    await page.getByLabel('Admin token').waitFor();
    expect(page.url()).toBe(url('/console/sign-in?next=%2Fconsole'));
    await page.screenshot({ path: screenshot('sign-in'), animations: 'disabled' });
    await signIn(page);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();

    await page.getByRole('link', { name: 'Tenants' }).click();
    await page.getByLabel('Search tenants').fill('org-456');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'org-456' }).click();
    await page.getByRole('heading', { name: 'org-456', level: 1 }).waitFor();
    expect(page.url()).toBe(url('/console/tenants/org-456'));
    await expectMeter(page, 'Deployments: 5 of 5');

    await page.getByLabel('Deployments override').fill('7');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    expect(await page.getByRole('status').textContent()).toContain('Deployments override: inherit (5) → 7');
    expect(await h.limits('org-456')).toEqual({
      deployments: 7,
      self_hosted_workers: null,
      plan_type: 'growth',
    });
    await expectMeter(page, 'Deployments: 5 of 7');
    const audit = page.locator('section', { has: page.getByRole('heading', { name: 'Audit trail' }) });
    const latest = audit.getByRole('row').nth(1);
    expect(await latest.getByRole('cell').nth(1).textContent()).toBe('alice');
    expect(await latest.textContent()).toContain('overrides.deployments');
    expect(await latest.textContent()).toContain('→ 7');
    expect(await tab.problems()).toEqual(NO_PROBLEMS);

    await page.getByLabel('Deployments override').fill('-1');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('Nothing was saved');
    const field = page.getByLabel('Deployments override');
    expect(await field.getAttribute('aria-invalid')).toBe('true');
    expect(await field.inputValue()).toBe('-1');
    expect(await page.locator('#deployments-error').textContent()).toBe(
      'Input should be greater than or equal to 0',
    );
    expect(await h.limits('org-456')).toEqual({
      deployments: 7,
      self_hosted_workers: null,
      plan_type: 'growth',
    });
    expect(await tab.problems()).toEqual(
      refusedOnce(422, 'Unprocessable Entity', url('/console/tenants/org-456')),
    );

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    await page.goto(url('/console/tenants/org-456'));
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(page.url()).toBe(url('/console/sign-in?next=%2Fconsole%2Ftenants%2Forg-456'));
    expect((await tab.context.cookies()).map((cookie) => cookie.name)).not.toContain(
      'billing_console_session',
    );
  });

  it('refuses a form posted without its CSRF token, and changes nothing', async () => {
    const tab = await browser.open();
    const { page } = tab;
    await signIn(page, '/console/tenants/org-900');
    const before = await h.limits('org-900');
    await page
      .locator('input[name="csrf"]')
      .first()
      .evaluate((input) => input.closest('form')?.querySelector('[name="csrf"]'));
    await page.locator('form.edit-form input[name="csrf"]').evaluate((input) => input.remove());
    await page.getByLabel('Deployments override').fill('9');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Refused' }).waitFor();
    expect(await page.textContent('main')).toContain('its CSRF token does not match');
    expect(await h.limits('org-900')).toEqual(before);
    expect(await tab.problems()).toEqual(refusedOnce(403, 'Forbidden', url('/console/tenants/org-900')));
  });

  it('works with the keyboard alone: sign in, reach the edit form, save', async () => {
    const tab = await browser.open(url('/console/tenants/org-123'));
    const { page } = tab;
    await page.getByLabel('Admin token').waitFor();
    // The token field has the focus on arrival.
    expect(await page.evaluate('document.activeElement?.id')).toBe('token');
    await page.keyboard.type(await h.adminToken('kim'));
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Sign in');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'org-123', level: 1 }).waitFor();

    const focused = () =>
      page.evaluate<string>('document.activeElement?.id || document.activeElement?.textContent');
    let presses = 0;
    while ((await focused()) !== 'plan' && presses++ < 40) await page.keyboard.press('Tab');
    expect(await focused()).toBe('plan');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('deployments');
    await page.keyboard.type('3');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('self_hosted_workers');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('Save');
    // The focused control shows it (the stylesheet's focus ring).
    expect(await page.evaluate('getComputedStyle(document.activeElement).outlineStyle')).toBe('solid');
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    expect(await h.limits('org-123')).toMatchObject({ deployments: 3 });
    expect(await tab.problems()).toEqual(NO_PROBLEMS);
  });

  it('shows each page as the README does, with nothing refused, failing or leaving loopback', async () => {
    const tab = await browser.open();
    const { page } = tab;
    await signIn(page, '/console');
    await page.getByRole('heading', { name: 'Near or over a limit' }).waitFor();
    await page.getByRole('link', { name: 'org-900' }).first().waitFor();
    expect(await page.getByRole('img', { name: /last 7 days/ }).count()).toBe(1);
    await page.screenshot({ path: screenshot('overview'), fullPage: true, animations: 'disabled' });

    await page.goto(url('/console/tenants?query=org-'));
    await page.getByRole('link', { name: 'org-456' }).waitFor();
    await page.screenshot({ path: screenshot('tenants'), fullPage: true, animations: 'disabled' });

    await page.goto(url('/console/tenants/org-456'));
    await page.getByRole('link', { name: 'org-457' }).waitFor();
    await page.screenshot({ path: screenshot('tenant'), fullPage: true, animations: 'disabled' });

    await page.goto(url('/console/plans'));
    await page.getByRole('rowheader', { name: 'growth' }).waitFor();
    await page.screenshot({ path: screenshot('plans'), fullPage: true, animations: 'disabled' });

    await page.goto(url('/console/webhooks'));
    const redeliver = page.getByRole('button', { name: /^Redeliver limit\.reached/ }).first();
    await redeliver.waitFor({ timeout: 15_000 }).catch(async () => {
      await page.reload();
      await redeliver.waitFor();
    });
    await page.screenshot({ path: screenshot('webhooks'), fullPage: true, animations: 'disabled' });
    await redeliver.click();
    await page.getByRole('status').filter({ hasText: 'queued to be sent again' }).waitFor();
    expect(await tab.problems()).toEqual(NO_PROBLEMS);
  });
});

async function expectMeter(page: Page, name: string) {
  const meter = page.getByRole('meter', { name });
  await meter.waitFor();
  expect(await meter.count()).toBe(1);
}
