/**
 * A real browser for the suite: Debian's Chromium driven by playwright-core (which never downloads
 * a browser of its own), kept on loopback. Every request to any other host is aborted and
 * recorded, so a test can assert that nothing tried to leave; console errors, uncaught
 * exceptions, failed requests, HTTP error answers and Content-Security-Policy violations are
 * collected per context.
 *
 * One browser per test file (launched in beforeAll, closed in afterAll); a fresh context — its own
 * cookies, storage and cache — per page a test opens, closed when the test ends.
 *
 * @example
 * const browser = useBrowser();
 * it('renders', async () => {
 *   const tab = await browser.open(`${origin}/docs`);
 *   await tab.page.getByRole('heading', { name: 'Billing limits service' }).waitFor({ state: 'visible' });
 *   expect(await tab.problems()).toEqual(NO_PROBLEMS);
 * });
 */
import { accessSync, constants } from 'node:fs';
import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  chromium,
  type Page,
} from 'playwright-core';
import { afterAll, beforeAll, onTestFinished } from 'vitest';

const DEFAULT_CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * The switches the browser runs with, besides playwright-core's own defaults (which already
 * include most of them; they are spelled out so this helper's guarantees don't rest on another
 * package's defaults). No sandbox: CI runs as root in a container, where Chromium's sandbox cannot
 * start. No QUIC, no proxy and no background traffic (component updates, sync, field trials): the
 * only connections are the ones the page makes. Under the request routing below, the host
 * resolver knows no name but loopback's, so whatever the routing does not see (a DNS prefetch, a
 * preconnect, the browser's own requests) cannot reach another host either. The profile is a
 * fresh temporary directory of playwright-core's own (it refuses a `--user-data-dir` here),
 * removed when the browser closes.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--no-proxy-server',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1 , EXCLUDE ::1',
] as const;

/** The hosts a page may reach: the test's own servers. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

const isLoopback = (url: URL) => LOOPBACK_HOSTS.has(url.hostname);

/** What went wrong in a context; every list empty when a page behaved. */
export interface PageProblems {
  /** Requests (HTTP or WebSocket) to a host that is not loopback — each aborted: `GET https://…`. */
  readonly leftLoopback: readonly string[];
  /** `console.error` messages (Chromium's "Refused to …" and "Failed to load resource" among them) and uncaught exceptions. */
  readonly consoleErrors: readonly string[];
  /** Requests that got no answer: `GET http://… net::ERR_…` (the aborted ones above included). */
  readonly failedRequests: readonly string[];
  /** Answers with a status of 400 or more: `404 GET http://…`. */
  readonly errorResponses: readonly string[];
  /** `securitypolicyviolation` events: `script-src-elem inline at http://…:12`. */
  readonly cspViolations: readonly string[];
}

/** What `problems()` answers for a page that behaved: `expect(await tab.problems()).toEqual(NO_PROBLEMS)`. */
export const NO_PROBLEMS: PageProblems = Object.freeze({
  leftLoopback: [],
  consoleErrors: [],
  failedRequests: [],
  errorResponses: [],
  cspViolations: [],
});

export interface BrowserTab {
  readonly page: Page;
  readonly context: BrowserContext;
  /** What went wrong in this tab's context so far, once every report the pages sent has arrived. */
  problems(): Promise<PageProblems>;
}

export interface TestBrowser {
  /** A page in a fresh context (1280×900 unless `options` say otherwise), at `url` when given. */
  open(url?: string, options?: BrowserContextOptions): Promise<BrowserTab>;
}

/** Launches Debian's Chromium (or `CHROMIUM_PATH`), headless; throws, naming the fix, when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = process.env['CHROMIUM_PATH'] ?? DEFAULT_CHROMIUM_PATH;
  try {
    accessSync(executablePath, constants.X_OK);
  } catch (cause) {
    throw new Error(
      `No Chromium at ${executablePath}: the browser tests need one. Install Debian's ` +
        '(`sudo apt-get update && sudo apt-get install -y chromium`), or point CHROMIUM_PATH at a Chromium binary.',
      { cause },
    );
  }
  return chromium.launch({ executablePath, headless: true, args: [...CHROMIUM_ARGS] });
}

/** The browser of the current test file: launched before its first test, closed after its last. */
export function useBrowser(): TestBrowser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    browser = undefined;
  });
  return {
    async open(url, options = {}) {
      if (!browser) throw new Error('useBrowser: the browser launches in beforeAll; open pages inside tests');
      const context = await browser.newContext({
        viewport: { width: 1280, height: 900 },
        // A service worker's requests could bypass the routing below.
        serviceWorkers: 'block',
        ...options,
      });
      onTestFinished(() => context.close());
      const problems = await watch(context);
      const page = await context.newPage();
      if (url !== undefined) await page.goto(url);
      return { page, context, problems };
    },
  };
}

/** The name the init script reports CSP violations through (a binding into this process). */
const CSP_BINDING = '__testBrowserCspViolation';

/**
 * Runs in every document before its own scripts (through the DevTools protocol, so the page's CSP
 * does not apply to it), and reports each violation of the page's policy.
 */
const REPORT_CSP_VIOLATIONS = `document.addEventListener('securitypolicyviolation', (event) => {
  const where = event.sourceFile ? ' at ' + event.sourceFile + ':' + event.lineNumber : '';
  window.${CSP_BINDING}(event.effectiveDirective + ' ' + (event.blockedURI || 'inline') + where);
}, true);`;

async function watch(context: BrowserContext): Promise<() => Promise<PageProblems>> {
  const seen: { [list in keyof PageProblems]: string[] } = {
    leftLoopback: [],
    consoleErrors: [],
    failedRequests: [],
    errorResponses: [],
    cspViolations: [],
  };
  await context.route(
    (url) => !isLoopback(url),
    (route) => {
      const request = route.request();
      seen.leftLoopback.push(`${request.method()} ${request.url()}`);
      return route.abort('blockedbyclient');
    },
  );
  await context.routeWebSocket(
    (url) => !isLoopback(url),
    (socket) => {
      seen.leftLoopback.push(`WebSocket ${socket.url()}`);
      return socket.close({ code: 1008, reason: 'blocked by the test browser' });
    },
  );
  context.on('console', (message) => {
    if (message.type() !== 'error') return;
    const { url, lineNumber } = message.location();
    seen.consoleErrors.push(url ? `${message.text()} (${url}:${lineNumber})` : message.text());
  });
  context.on('weberror', (error) => {
    seen.consoleErrors.push(`uncaught: ${error.error().stack ?? error.error().message}`);
  });
  context.on('requestfailed', (request) => {
    seen.failedRequests.push(`${request.method()} ${request.url()} ${request.failure()?.errorText ?? ''}`);
  });
  context.on('response', (response) => {
    if (response.status() >= 400)
      seen.errorResponses.push(`${response.status()} ${response.request().method()} ${response.url()}`);
  });
  await context.exposeFunction(CSP_BINDING, (violation: string) => {
    seen.cspViolations.push(violation);
  });
  await context.addInitScript({ content: REPORT_CSP_VIOLATIONS });

  return async () => {
    // A binding call and the answer to an evaluation travel in order on the same connection: once
    // each page has answered one, every violation it reported before is in `seen`.
    await Promise.all(context.pages().map((page) => page.evaluate('0').catch(() => undefined)));
    return structuredClone(seen);
  };
}
