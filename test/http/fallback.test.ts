import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { internalServerError } from '../../src/http/fallback.js';

describe('internalServerError', () => {
  it('reports an error no handler expected and answers a 500 that says nothing of it', async () => {
    const reported: unknown[] = [];
    const failure = new Error('secret detail');
    const app = new Hono();
    app.get('/broken', () => {
      throw failure;
    });
    app.onError(internalServerError((error) => reported.push(error)));
    const res = await app.request('/broken');
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ detail: 'Internal Server Error' });
    expect(reported).toEqual([failure]);
  });
});
