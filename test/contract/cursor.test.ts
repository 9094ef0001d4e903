import { describe, expect, it } from 'vitest';
import { keyCursor, pageCursor } from '../../src/contract/cursor.js';
import { OrbWebhookEvent, WebhookEventsCursor } from '../../src/contract/webhooks.js';

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const cursor = pageCursor({ example: 'x', isId: (id) => id.startsWith('r_') });
const AT = '2026-12-03T08:00:00.123456Z';

describe('a page cursor', () => {
  it('decodes the position it encoded, microseconds and all', () => {
    const position = { at: AT, id: 'r_1' };
    const encoded = cursor.encode(position);
    expect(encoded).toBe(encode([AT, 'r_1']));
    expect(cursor.parse(encoded)).toEqual(position);
  });

  it('takes the first instant PostgreSQL and JavaScript share, the epoch', () => {
    const at = '1970-01-01T00:00:00.000000Z';
    expect(cursor.parse(encode([at, 'r_1']))).toEqual({ at, id: 'r_1' });
  });

  it.each([
    ['not base64url JSON', 'not-a-cursor'],
    ['JSON that is no list', encode({ at: AT, id: 'r_1' })],
    ['a list of one', encode([AT])],
    ['a list of three', encode([AT, 'r_1', 'extra'])],
    ['a time that is no string', encode([1_733_212_800_000, 'r_1'])],
    ['a time in milliseconds only', encode(['2026-12-03T08:00:00.123Z', 'r_1'])],
    ['a date that does not exist', encode(['2026-02-31T08:00:00.123456Z', 'r_1'])],
    ['a time before the epoch', encode(['1969-12-31T23:59:59.999999Z', 'r_1'])],
    ['an id that is no string', encode([AT, 1])],
    ['an id the list cannot have', encode([AT, 'evt_1'])],
  ])('refuses %s with one issue, "Invalid cursor"', (_, value) => {
    const parsed = cursor.safeParse(value);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map(({ code, message }) => ({ code, message }))).toEqual([
      { code: 'custom', message: 'Invalid cursor' },
    ]);
  });

  it('refuses an empty cursor and one over 4,096 characters before decoding', () => {
    expect(cursor.safeParse('').error?.issues[0]?.code).toBe('too_small');
    expect(cursor.safeParse('a'.repeat(4097)).error?.issues[0]?.code).toBe('too_big');
  });
});

describe('the webhook events’ cursor', () => {
  it('takes any stored event id, but not an empty one or one with a NUL', () => {
    expect(WebhookEventsCursor.safeParse(encode([AT, 'o4mmewpfNNTnjfZc'])).success).toBe(true);
    expect(WebhookEventsCursor.safeParse(encode([AT, ''])).success).toBe(false);
    expect(WebhookEventsCursor.safeParse(encode([AT, 'evt\u0000'])).success).toBe(false);
  });
});

describe('an Orb event as the webhook reads it', () => {
  const event = (createdAt: string) => ({ id: 'e1', type: 'subscription.started', created_at: createdAt });
  const messages = (input: unknown) =>
    OrbWebhookEvent.safeParse(input).error?.issues.map((issue) => issue.message);

  it('takes times from the first to the last instant of years 0001 to 9999', () => {
    expect(OrbWebhookEvent.safeParse(event('0001-01-01T00:00:00+00:00')).success).toBe(true);
    expect(OrbWebhookEvent.safeParse(event('9999-12-31T23:59:59+00:00')).success).toBe(true);
    expect(messages(event('0000-12-31T23:59:59+00:00'))).toEqual([
      'expected a time between the years 0001 and 9999 UTC',
    ]);
    // In year 9999 where it was sent, in year 10000 in UTC.
    expect(messages(event('9999-12-31T23:59:59-01:00'))).toEqual([
      'expected a time between the years 0001 and 9999 UTC',
    ]);
  });

  it('says "required" for a missing event and "expected an object" for another value', () => {
    expect(messages(undefined)).toEqual(['required']);
    expect(messages('event')).toEqual(['expected an object']);
    expect(messages({ ...event('2026-12-03T08:00:00Z'), subscription: 'x' })).toEqual([
      'expected an object or null',
    ]);
  });
});

describe('a key cursor', () => {
  const keys = keyCursor({ example: 'x', isKey: (key) => key.startsWith('org-') });

  it('decodes the key it encoded', () => {
    const encoded = keys.encode('org-ü😀');
    expect(encoded).toBe(encode(['org-ü😀']));
    expect(keys.parse(encoded)).toBe('org-ü😀');
  });

  it.each([
    ['not base64url JSON', 'not-a-cursor'],
    ['JSON that is no list', encode({ after: 'org-1' })],
    ['an empty list', encode([])],
    ['a list of two', encode(['org-1', 'org-2'])],
    ['a key that is no string', encode([1])],
    ['a key the list cannot have', encode(['cus-1'])],
    ['a page position', encode([AT, 'org-1'])],
  ])('refuses %s with one issue, "Invalid cursor"', (_, value) => {
    expect(keys.safeParse(value).error?.issues.map(({ code, message }) => ({ code, message }))).toEqual([
      { code: 'custom', message: 'Invalid cursor' },
    ]);
  });
});
