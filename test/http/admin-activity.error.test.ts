/**
 * `GET /admin/activity` and `GET /admin/refusals`, every way they refuse: a query out of bounds
 * (422, FastAPI's shape), the admin API off (404), no or a worker's token (401), a store that
 * cannot be reached (503) — on REST and tRPC.
 */
import { describe, expect, it } from 'vitest';
import type { BillingStore } from '../../src/domain/store.js';
import { trpcPath, useHarness } from '../support/harness.js';

const refused = (loc: string, type: string, msg: string, input: string, ctx?: Record<string, number>) => ({
  type,
  loc: ['query', loc],
  msg,
  input,
  ...(ctx ? { ctx } : {}),
});

const tooFewHours = (input: string) =>
  refused('hours', 'greater_than_equal', 'Input should be greater than or equal to 1', input, { ge: 1 });
const tooManyHours = refused('hours', 'less_than_equal', 'Input should be less than or equal to 720', '721', {
  le: 720,
});
const notAnInteger = (field: string, input: string) =>
  refused(field, 'int_type', 'Input should be a valid integer', input);

describe('the activity admin API refuses', () => {
  const h = useHarness({ store: 'pglite' });

  it.each([
    ['/admin/activity?hours=0', [tooFewHours('0')]],
    ['/admin/activity?hours=721', [tooManyHours]],
    ['/admin/activity?hours=1.5', [notAnInteger('hours', '1.5')]],
    ['/admin/activity?hours=week', [notAnInteger('hours', 'week')]],
    [
      '/admin/activity?tenant_id=',
      [
        refused('tenant_id', 'string_too_short', 'String should have at least 1 character', '', {
          min_length: 1,
        }),
      ],
    ],
    ['/admin/refusals?hours=0', [tooFewHours('0')]],
    ['/admin/refusals?hours=721', [tooManyHours]],
    [
      '/admin/refusals?limit=0',
      [refused('limit', 'greater_than_equal', 'Input should be greater than or equal to 1', '0', { ge: 1 })],
    ],
    [
      '/admin/refusals?limit=101',
      [refused('limit', 'less_than_equal', 'Input should be less than or equal to 100', '101', { le: 100 })],
    ],
    ['/admin/refusals?hours=721&limit=all', [tooManyHours, notAnInteger('limit', 'all')]],
  ])('%s: 422 with every problem', async (path, detail) => {
    const res = await h.asAdmin(path);
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({ detail });
  });

  it('the bounds themselves are taken: 1 and 720 hours, a limit of 1 and 100', async () => {
    for (const path of [
      '/admin/activity?hours=1',
      '/admin/activity?hours=720',
      '/admin/refusals?hours=720&limit=1',
      '/admin/refusals?hours=1&limit=100',
    ]) {
      expect((await h.asAdmin(path)).status, path).toBe(200);
    }
  });

  it('a query out of bounds over tRPC: BAD_REQUEST with the same detail', async () => {
    const res = await h.asAdmin(trpcPath('admin.getActivity', { hours: 721 }));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { data: { detail: unknown } } };
    expect(body.error.data.detail).toEqual([
      {
        type: 'less_than_equal',
        loc: ['input', 'hours'],
        msg: 'Input should be less than or equal to 720',
        input: 721,
        ctx: { le: 720 },
      },
    ]);
  });

  it.each(['/admin/activity', '/admin/refusals'])('%s: 404 when the admin API is off', async (path) => {
    const off = h.withApp({ config: { adminSecret: undefined } });
    const res = await off.asAdmin(path);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ detail: 'Not Found' });
  });

  it.each(['/admin/activity', '/admin/refusals'])('%s: 404 without a store (no admin API)', async (path) => {
    const res = await h
      .withApp({ config: { orbWebhookSecret: undefined }, dependencies: { store: undefined } })
      .asAdmin(path);
    expect(res.status).toBe(404);
  });

  it.each(['/admin/activity', '/admin/refusals'])(
    '%s: 401 without a token, or with a worker token',
    async (path) => {
      const none = await h.request(path);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      expect(await none.json()).toEqual({ detail: 'Missing authorization header' });
      const worker = await h.request(path, { headers: { authorization: `Bearer ${await h.workerToken()}` } });
      expect(worker.status).toBe(401);
    },
  );

  it.each([
    ['/admin/activity', 'hourly'],
    ['/admin/refusals', 'refusals'],
  ] as const)('%s: 503 when the store cannot be reached', async (path, read) => {
    const down = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const store: BillingStore = {
      ...h.store,
      activity: { ...h.store.activity, [read]: () => Promise.reject(down) },
    };
    const res = await h.withApp({ dependencies: { store } }).asAdmin(path);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ detail: 'Limits store unavailable' });
  });
});
