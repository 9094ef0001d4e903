import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { SendResult, SendWebhook } from '../domain/outbox/dispatcher.js';
import { connectHostOf, guardedLookup, isPublicAddress } from './webhook-address.js';

export interface WebhookSenderOptions {
  /** `BILLING_WEBHOOK_ALLOW_PRIVATE`: loopback, private, link-local and metadata addresses may be sent to. */
  allowPrivate: boolean;
}

/**
 * POSTs a signed webhook with Node's own client. The address connected to is checked as it is
 * resolved (the lookup refuses a non-public one), so a name that resolved to a public address
 * when the endpoint was created and to a private one now (DNS rebinding) is refused at send time.
 * Redirects are not followed: a 3xx is a failed attempt. The answer's body is read and dropped.
 */
export function createWebhookSender({ allowPrivate }: WebhookSenderOptions): SendWebhook {
  const lookup = guardedLookup({ allowPrivate });
  return (target, { headers, body }, timeoutMs) =>
    new Promise<SendResult>((resolve) => {
      const url = new URL(target);
      const host = connectHostOf(url);
      // Node connects to an IP literal without a lookup: checked here instead.
      if (!allowPrivate && isIP(host) !== 0 && !isPublicAddress(host)) {
        resolve({ error: `refused address ${host}` });
        return;
      }
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const request = send(url, {
        method: 'POST',
        headers: {
          ...headers,
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'billing-limits-service',
        },
        lookup,
        signal: AbortSignal.timeout(timeoutMs),
        // A connection per attempt: a kept-alive socket would skip the address check next time.
        agent: false,
      });
      request.once('response', (response) => {
        response.resume();
        resolve({ statusCode: response.statusCode ?? 0 });
      });
      request.once('error', (error: NodeJS.ErrnoException) => {
        resolve({
          error:
            error.name === 'AbortError' || error.name === 'TimeoutError'
              ? `no answer within ${timeoutMs} ms`
              : error.code === 'ERR_REFUSED_ADDRESS'
                ? error.message
                : `${error.code ?? error.name}: ${error.message}`,
        });
      });
      request.end(body);
    });
}
