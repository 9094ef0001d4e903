/**
 * `/docs` in a real browser (Debian's Chromium), served by the app over a loopback socket, with
 * every request to another host aborted: the page must render the API from this origin alone,
 * under its Content-Security-Policy, with nothing refused and nothing failing. The screenshot the
 * README shows is taken here. How the routes read swagger-ui-dist's files is checked without a
 * browser in test/http/docs-routes.test.ts.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DrainableServer, listen } from '../../src/http/node-server.js';
import { type BrowserTab, NO_PROBLEMS, useBrowser } from '../support/browser.js';
import { eventually } from '../support/eventually.js';
import { useHarness } from '../support/harness.js';

const SCREENSHOT = fileURLToPath(new URL('../../docs/images/docs-page.png', import.meta.url));

/**
 * Long enough for Swagger UI to parse its 1.7 MB bundle and render on a busy CI machine; short
 * enough that a blank page fails well within the test's own timeout, with what the browser saw.
 */
const RENDER_TIMEOUT_MS = 20_000;

/** Waits for `locator` to be visible; if it never is, fails with everything the browser reported. */
async function visible(tab: BrowserTab, locator: Locator): Promise<Locator> {
  try {
    await locator.waitFor({ state: 'visible', timeout: RENDER_TIMEOUT_MS });
  } catch (error) {
    const problems = JSON.stringify(await tab.problems(), null, 2);
    throw new Error(`${(error as Error).message}\nwhat the browser reported: ${problems}`, { cause: error });
  }
  return locator;
}

describe('/docs in Chromium', () => {
  const h = useHarness();
  const browser = useBrowser();
  let server: DrainableServer;

  beforeAll(async () => {
    server = await listen(h.app.fetch, { port: 0, hostname: '127.0.0.1' });
  });
  afterAll(() => server?.close(1_000));

  /** The reference page, rendered, and the `GET /billing/limits` operation in it. */
  async function openLimitsOperation() {
    const tab = await browser.open(`${server.origin}/docs`);
    const operation = tab.page.locator('#operations-billing-getBillingLimits');
    await visible(tab, operation.locator('.opblock-summary-path', { hasText: /^\/billing\/limits$/ }));
    return { tab, operation };
  }

  it('shows GET /billing/limits, its tenant-id header and 401 and 422 answers, and runs it, all from this origin', async () => {
    const { tab, operation } = await openLimitsOperation();
    const { page } = tab;
    expect(await page.title()).toBe('Billing limits service — API reference');
    expect(await operation.locator('.opblock-summary-method').textContent()).toBe('GET');

    await operation.locator('.opblock-summary-control').click();
    const tenantId = await visible(tab, operation.locator('tr[data-param-name="tenant-id"]'));
    expect(await tenantId.getAttribute('data-param-in')).toBe('header');
    expect(await tenantId.locator('.parameter__name').textContent()).toContain('tenant-id');
    const unauthorized = await visible(tab, operation.locator('tr.response[data-code="401"]'));
    expect(await unauthorized.locator('.response-col_description').first().textContent()).toContain(
      'Unauthorized',
    );
    const invalid = await visible(tab, operation.locator('tr.response[data-code="422"]'));
    expect(await invalid.locator('.response-col_description').first().textContent()).toContain(
      'Validation Error',
    );

    // The outbound webhooks (OpenAPI 3.1 `webhooks`), each with the signed body it sends.
    const webhooks = page.locator('.webhooks');
    await visible(tab, webhooks.locator('.opblock-summary-path', { hasText: 'limits.changed' }).first());
    await visible(tab, webhooks.locator('.opblock-summary-path', { hasText: 'reservation.expired' }).first());
    for (const alert of ['limit.warning', 'limit.reached', 'limit.resolved']) {
      await visible(tab, webhooks.locator('.opblock-summary-path', { hasText: alert }).first());
    }
    // The change stream, beside the routes derived from the procedures.
    await visible(
      tab,
      page.locator('.opblock-get .opblock-summary-path', { hasText: '/billing/limits/changes' }).first(),
    );

    expect(await tab.problems()).toEqual(NO_PROBLEMS);

    // The README's picture: the page as a reader sees it, not as the test's last click left it.
    await page.mouse.move(0, 0);
    await page.evaluate('document.activeElement.blur()');
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, animations: 'disabled' });
    expect(statSync(SCREENSHOT).size).toBeLessThan(300 * 1024);

    // Swagger UI's Authorize dialog is a <form> it handles itself: `form-action 'none'` must not stop it.
    await page.getByRole('button', { name: 'Authorize' }).first().click();
    const workerToken = page.locator('.modal-ux form', { hasText: 'workerToken' });
    await workerToken.locator('input').fill(await h.workerToken());
    await workerToken.getByRole('button', { name: 'Apply credentials' }).click();
    await page.locator('.modal-ux').getByRole('button', { name: 'Close' }).first().click();

    await operation.getByRole('button', { name: 'Try it out' }).click();
    await operation.locator('tr[data-param-name="tenant-id"] input').fill('org-123');
    await operation.getByRole('button', { name: 'Execute' }).click();

    // The service's answer, fetched by the page under `connect-src 'self'`.
    const liveResponse = operation.locator('.live-responses-table');
    await visible(tab, liveResponse.getByRole('cell', { name: '200', exact: true }));
    expect(JSON.parse((await liveResponse.locator('.microlight').first().textContent()) ?? '')).toEqual({
      tenant_id: 'org-123',
      limits: { deployments: 1, self_hosted_workers: 5, plan_type: 'free' },
    });
    expect(await tab.problems()).toEqual(NO_PROBLEMS);
  });

  it('is held to its origin by the CSP, and the test browser reports what a page tries', async () => {
    // The document's policy is in force from its first byte: no need to wait for Swagger UI.
    const tab = await browser.open();
    const { page } = tab;
    await page.goto(`${server.origin}/docs`, { waitUntil: 'commit' });
    await page.locator('#swagger-ui').waitFor({ state: 'attached' });
    // What a compromised or misconfigured page would do: an inline script, a call to another host.
    await page.evaluate(`{
      const script = document.createElement('script');
      script.textContent = 'window.inlineScriptRan = true';
      document.head.append(script);
      fetch('https://example.com/collect').catch(() => {});
    }`);
    await eventually(async () => (await tab.problems()).cspViolations.length >= 2);
    const problems = await tab.problems();
    expect(await page.evaluate('window.inlineScriptRan === true')).toBe(false);
    expect(problems.cspViolations).toEqual([
      expect.stringMatching(/^script-src-elem inline/),
      expect.stringMatching(/^connect-src https:\/\/example\.com\/collect/),
    ]);
    // The CSP stopped the call in the page: it never became a request.
    expect(problems.leftLoopback).toEqual([]);

    // Where no CSP stops it, the test browser aborts and records the request.
    const elsewhere = await browser.open();
    await elsewhere.page.setContent(
      `<img src="https://example.com/pixel.png"><script>new WebSocket('wss://example.com/socket')</script>`,
    );
    await eventually(async () => (await elsewhere.problems()).leftLoopback.length >= 2);
    expect((await elsewhere.problems()).leftLoopback.toSorted()).toEqual([
      'GET https://example.com/pixel.png',
      'WebSocket wss://example.com/socket',
    ]);
  });
});
