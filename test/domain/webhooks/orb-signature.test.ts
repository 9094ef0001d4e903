import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyOrbSignature } from '../../../src/domain/webhooks/orb-signature.js';
import { ORB_SECRET as SECRET } from '../../support/harness.js';
import { orbSignature, orbTimestamp } from '../../support/orb.js';

const body = (text: string) => new TextEncoder().encode(text);

describe('verifyOrbSignature', () => {
  it("accepts Orb's own known-answer vector (from Orb's SDK tests)", () => {
    const payload =
      '{"id": "o4mmewpfNNTnjfZc", "created_at": "2024-03-27T15:42:29+00:00", "type": "resource_event.test", "properties": {"message": "A test webhook from Orb. Happy testing!"}}';
    const timestamp = '2024-03-27T15:42:29.551';
    expect(() =>
      verifyOrbSignature(
        'c-UGKYdnhHh436B_sMouYAPUvXyWpzOdunZBV5dFSD8',
        {
          timestamp,
          signature: 'v1=9d25de966891ab0bc18754faf8d83d0980b44ae330fcc130b41a6cf3daf1f391',
          body: body(payload),
        },
        Date.parse('2024-03-27T15:43:00Z'),
      ),
    ).not.toThrow();
  });

  it('accepts when any of several v1 entries matches (secret rotation)', () => {
    const timestamp = orbTimestamp();
    const signature = `v1=${'0'.repeat(64)} ${orbSignature(SECRET, timestamp, '{}')} v0=abc`;
    expect(() => verifyOrbSignature(SECRET, { timestamp, signature, body: body('{}') })).not.toThrow();
  });

  const now = Date.parse('2026-11-24T12:00:00Z');
  const at = (offsetMs: number) => orbTimestamp(new Date(now + offsetMs));
  it.each([
    ['no timestamp', undefined, 'v1=00', '{}', 'Missing X-Orb-Timestamp header'],
    ['no signature', at(0), undefined, '{}', 'Missing X-Orb-Signature header'],
    ['a timestamp with a zone', '2026-11-24T12:00:00Z', 'v1=00', '{}', 'Invalid X-Orb-Timestamp header'],
    ['a timestamp that is no date', '2026-02-31T12:00:00', 'v1=00', '{}', 'Invalid X-Orb-Timestamp header'],
    ['a timestamp 6 minutes old', at(-6 * 60_000), 'sign', '{}', 'Webhook timestamp too old'],
    ['a timestamp 6 minutes ahead', at(6 * 60_000), 'sign', '{}', 'Webhook timestamp too new'],
    ['a wrong signature', at(0), `v1=${'ab'.repeat(32)}`, '{}', 'No matching signature'],
    ['a signature that is not hex', at(0), 'v1=zz', '{}', 'No matching signature'],
    ['only other versions', at(0), 'v0=abc', '{}', 'No matching signature'],
  ])('refuses %s', (_, timestamp, signature, payload, reason) => {
    const header = signature === 'sign' && timestamp ? orbSignature(SECRET, timestamp, payload) : signature;
    expect(() =>
      verifyOrbSignature(SECRET, { timestamp, signature: header, body: body(payload) }, now),
    ).toThrow(reason);
  });

  it('accepts timestamps up to 5 minutes either way', () => {
    for (const offset of [-299_000, 299_000]) {
      const timestamp = at(offset);
      const signature = orbSignature(SECRET, timestamp, '{}');
      expect(() => verifyOrbSignature(SECRET, { timestamp, signature, body: body('{}') }, now)).not.toThrow();
    }
  });

  describe('a v1 entry matches only as exactly 64 lowercase hex digits', () => {
    const timestamp = at(0);
    const valid = orbSignature(SECRET, timestamp, '{}').slice(3);
    const refusesEntry = (entry: string) => {
      expect(() =>
        verifyOrbSignature(SECRET, { timestamp, signature: `v1=${entry}`, body: body('{}') }, now),
      ).toThrow('No matching signature');
    };

    it.each([
      ['the valid digest followed by non-hex characters', `${valid}zz`],
      ['the valid digest plus one more hex digit', `${valid}0`],
      ['the valid digest plus one more byte', `${valid}00`],
      ['the valid digest in upper case', valid.toUpperCase()],
      ['the valid digest without its last digit', valid.slice(0, -1)],
      ['the valid digest with a character inside replaced', `${valid.slice(0, 10)}g${valid.slice(11)}`],
      ['the valid digest after a plus sign', `+${valid}`],
    ])('refuses %s', (_, entry) => refusesEntry(entry));

    it('refuses the valid digest with anything appended (property)', () => {
      fc.assert(
        fc.property(
          fc.string({ minLength: 1, maxLength: 8 }).filter((suffix) => !suffix.includes(' ')),
          (suffix) => refusesEntry(`${valid}${suffix}`),
        ),
      );
    });

    it('still accepts the valid digest itself', () => {
      expect(() =>
        verifyOrbSignature(SECRET, { timestamp, signature: `v1=${valid}`, body: body('{}') }, now),
      ).not.toThrow();
    });
  });

  it('refuses a tampered body and another secret', () => {
    const timestamp = at(0);
    const signature = orbSignature(SECRET, timestamp, '{"a":1}');
    expect(() => verifyOrbSignature(SECRET, { timestamp, signature, body: body('{"a":2}') }, now)).toThrow(
      'No matching signature',
    );
    expect(() =>
      verifyOrbSignature('another-secret', { timestamp, signature, body: body('{"a":1}') }, now),
    ).toThrow('No matching signature');
  });
});
