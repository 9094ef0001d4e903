import { createHmac, timingSafeEqual } from 'node:crypto';

/** How far an `X-Orb-Timestamp` may be from now, either way (Orb's SDKs use the same tolerance). */
export const TIMESTAMP_TOLERANCE_MS = 5 * 60 * 1000;

/** Orb sends UTC without a zone, with up to microseconds: `2026-11-24T12:00:00.123456`. */
const ORB_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;

/** A `v1=` entry's value: HMAC-SHA256 in lower-case hex, as Orb writes it. */
const V1_DIGEST = /^[0-9a-f]{64}$/;

export class WebhookSignatureError extends Error {
  override readonly name = 'WebhookSignatureError';
}

function parseOrbTimestamp(value: string): number | undefined {
  const match = ORB_TIMESTAMP.exec(value);
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second, fraction = ''] = match.map((part) => part ?? '');
  const millis = Date.UTC(
    Number(year),
    Number(month) - 1,
    Number(day),
    Number(hour),
    Number(minute),
    Number(second),
    Number(fraction.padEnd(3, '0').slice(0, 3)),
  );
  // Date.UTC rolls 2026-02-31 over into March; a real timestamp round-trips.
  return new Date(millis).toISOString().slice(0, 19) === value.slice(0, 19) ? millis : undefined;
}

export interface SignedDelivery {
  timestamp: string | undefined;
  signature: string | undefined;
  body: Uint8Array;
}

/**
 * Checks a delivery as Orb's SDKs do: both headers present, the timestamp within five minutes,
 * and one of the `v1=` entries equal (in constant time) to HMAC-SHA256(secret, "v1:" + timestamp
 * + ":" + raw body). Throws a `WebhookSignatureError` whose message is the 400 `detail`.
 */
export function verifyOrbSignature(secret: string, delivery: SignedDelivery, now = Date.now()): void {
  const { timestamp, signature, body } = delivery;
  if (!timestamp) throw new WebhookSignatureError('Missing X-Orb-Timestamp header');
  if (!signature) throw new WebhookSignatureError('Missing X-Orb-Signature header');
  const sentAt = parseOrbTimestamp(timestamp);
  if (sentAt === undefined) throw new WebhookSignatureError('Invalid X-Orb-Timestamp header');
  if (now - sentAt > TIMESTAMP_TOLERANCE_MS) throw new WebhookSignatureError('Webhook timestamp too old');
  if (sentAt - now > TIMESTAMP_TOLERANCE_MS) throw new WebhookSignatureError('Webhook timestamp too new');

  const expected = createHmac('sha256', secret).update(`v1:${timestamp}:`).update(body).digest();
  // Only the exact form Orb writes is decoded: Buffer.from(…, 'hex') stops quietly at the first
  // non-hex character and drops an odd last digit, so `<digest>zz` or `<digest>0` would decode to
  // the digest itself.
  const candidates = signature
    .split(' ')
    .filter((entry) => entry.startsWith('v1='))
    .map((entry) => entry.slice(3))
    .filter((hex) => V1_DIGEST.test(hex))
    .map((hex) => Buffer.from(hex, 'hex'));
  const matches = candidates.some((candidate) => timingSafeEqual(candidate, expected));
  if (!matches) throw new WebhookSignatureError('No matching signature');
}
