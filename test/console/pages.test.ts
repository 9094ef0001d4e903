/** The console's pages as functions: what they render from the API's answers, without a server. */
import { describe, expect, it } from 'vitest';
import { limitInput } from '../../src/console/forms.js';
import { activityChart } from '../../src/console/pages/chart.js';
import { timeText, usageBar } from '../../src/console/pages/format.js';
import { changesOf, tenantFormOf, tenantPage } from '../../src/console/pages/tenant.js';
import { consolePathOr } from '../../src/console/requests.js';

const session = { id: 'session-1', subject: 'alice', expiresAt: 0, csrf: 'token-of-the-session' };
const text = async (markup: unknown) => String(await markup);

describe('console pages', () => {
  it('reads a typed limit as the API takes it: unlimited is null, digits a number, anything else as typed', () => {
    expect(limitInput('unlimited')).toBeNull();
    expect(limitInput('UNLIMITED')).toBeNull();
    expect(limitInput('7')).toBe(7);
    expect(limitInput('-1')).toBe(-1);
    expect(limitInput('+3')).toBe(3);
    expect(limitInput('7.5')).toBe('7.5');
    expect(limitInput('seven')).toBe('seven');
  });

  it('goes back after sign-in only to a console path', () => {
    for (const path of ['/console', '/console/tenants/org-1', '/console/tenants?query=org']) {
      expect(consolePathOr(path)).toBe(path);
    }
    for (const path of [
      undefined,
      '',
      '/',
      '/consoles',
      '//evil.example',
      '/console//evil.example',
      '/console/\\x',
      'https://evil.example/console',
    ]) {
      expect(consolePathOr(path), String(path)).toBeUndefined();
    }
  });

  it('shows times in UTC to the minute, with or without a zone in the answer', () => {
    expect(timeText('2026-12-03T14:05:59.123Z')).toBe('2026-12-03 14:05 UTC');
    expect(timeText('2026-12-03T14:05:59.123456')).toBe('2026-12-03 14:05 UTC');
    expect(timeText('2026-12-03T15:05:00+01:00')).toBe('2026-12-03 14:05 UTC');
    expect(timeText(null)).toBe('—');
    expect(timeText('not a time')).toBe('not a time');
  });

  it('draws usage as a meter named "Deployments: 3 of 5", over the limit as full with a badge, unlimited as a count', async () => {
    const within = await text(usageBar('deployments', 3, 5));
    expect(within).toContain(
      '<meter min="0" max="5" low="4" high="4" optimum="0" value="3" aria-label="Deployments: 3 of 5">',
    );
    const over = await text(usageBar('self_hosted_workers', 7, 5));
    expect(over).toContain('value="5" aria-label="Self-hosted workers: 7 of 5"');
    expect(over).toContain('over by 2');
    const zero = await text(usageBar('deployments', 0, 0));
    expect(zero).toContain('max="1"');
    expect(zero).toContain('aria-label="Deployments: 0 of 0"');
    expect(await text(usageBar('deployments', 4, null))).not.toContain('<meter');
  });

  it('puts each bucket in its hour of the window and totals each series', async () => {
    const from = '2026-12-01T00:00:00.000Z';
    const chart = await text(
      activityChart(
        {
          from,
          to: '2026-12-01T04:00:00.000Z',
          buckets: [
            { hour: '2026-12-01T01:00:00.000Z', grants: 2, releases: 1, refusals: 0, expiries: 0 },
            { hour: '2026-12-01T01:00:00.000Z', grants: 1, releases: 0, refusals: 3, expiries: 0 },
            { hour: '2026-12-01T03:00:00.000Z', grants: 0, releases: 0, refusals: 0, expiries: 4 },
            // Outside the window: left out.
            { hour: '2026-11-30T23:00:00.000Z', grants: 9, releases: 9, refusals: 9, expiries: 9 },
          ],
        },
        'Activity',
      ),
    );
    expect(chart).toContain('aria-label="Activity: 3 grants, 1 releases, 3 refusals, 4 expiries"');
    // Four hours across 796 px: x = 36, 301.3, 566.7, 832; the peak (4) at the top (y = 10).
    expect(chart).toContain('class="series-grants" points="36.0,176.0 301.3,51.5 566.7,176.0 832.0,176.0"');
    expect(chart).toContain('class="series-expiries" points="36.0,176.0 301.3,176.0 566.7,176.0 832.0,10.0"');
  });

  it('lists an audit entry’s changes field by field, leaving out what did not change', async () => {
    const changes = await Promise.all(
      changesOf(
        { planId: 'free', overrides: { deployments: 5 }, tenantId: 'org-1' },
        { planId: 'growth', overrides: { deployments: 7, self_hosted_workers: null }, tenantId: 'org-1' },
      ).map(text),
    );
    expect(changes).toEqual([
      '<span class="mono">planId</span>: <del>&quot;free&quot;</del> → <ins>&quot;growth&quot;</ins>',
      '<span class="mono">overrides.deployments</span>: <del>5</del> → <ins>7</ins>',
      '<span class="mono">overrides.self_hosted_workers</span>: <del>—</del> → <ins>—</ins>',
    ]);
    expect(await Promise.all(changesOf({ a: 1 }, { a: 1 }).map(text))).toEqual([
      '<span class="muted">no change</span>',
    ]);
  });

  it('fills the form from the tenant: an override as its number or unlimited, inherited as empty', () => {
    const tenant = {
      tenant_id: 'org-1',
      customer_id: 'cus_1',
      plan_id: 'growth' as const,
      overrides: { self_hosted_workers: null },
      soft_limits: {},
      limits: { deployments: 5, self_hosted_workers: null, plan_type: 'growth' as const },
    };
    expect(tenantFormOf(tenant)).toEqual({
      plan: 'growth',
      deployments: '',
      self_hosted_workers: 'unlimited',
    });
    expect(tenantFormOf({ ...tenant, overrides: { deployments: 0 } })).toMatchObject({ deployments: '0' });
  });

  it('says above the form what the API refused about no field of it, and escapes it', async () => {
    const tenant = {
      tenant_id: 'org-<1>',
      customer_id: 'cus_1',
      plan_id: 'free' as const,
      overrides: {},
      soft_limits: {},
      limits: { deployments: 1, self_hosted_workers: 5, plan_type: 'free' as const },
    };
    const usage = { used: 0, limit: 1, remaining: 1, overage: 0 };
    const page = await text(
      tenantPage(
        session,
        {
          tenant,
          usage: {
            usage: { tenant_id: 'org-<1>', usage: { deployments: usage, self_hosted_workers: usage } },
            reservations: [],
          },
          sharing: [],
          plans: [],
          activity: { from: '2026-12-01T00:00:00.000Z', to: '2026-12-08T00:00:00.000Z', buckets: [] },
          audit: [],
          events: [],
        },
        {
          errors: new Map([
            ['', 'Conflict <b>'],
            ['soft_limits', 'Not allowed'],
            ['overrides.deployments', 'Input should be greater than or equal to 0'],
          ]),
        },
      ),
    );
    expect(page).toContain('<li>Conflict &lt;b&gt;</li>');
    expect(page).toContain('<li>soft_limits: Not allowed</li>');
    expect(page).not.toContain('<li>overrides.deployments');
    expect(page).toContain(
      '<p class="field-error" id="deployments-error">Input should be greater than or equal to 0</p>',
    );
    expect(page).toContain('<h1>org-&lt;1&gt;</h1>');
    expect(page).toContain('<input type="hidden" name="csrf" value="token-of-the-session">');
  });
});
