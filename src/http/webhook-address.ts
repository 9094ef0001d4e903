import {
  lookup as dnsLookup,
  promises as dnsPromises,
  type LookupAddress,
  type LookupAllOptions,
} from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** Resolves every address of `host`, like `dns.promises.lookup(host, { all: true })`. */
export type LookupAll = (
  host: string,
  options: { all: true },
) => Promise<{ address: string; family: number }[]>;

/** The callback form of `dns.lookup` asked for every address; `dns.lookup` itself is one. */
export type CallbackLookupAll = (
  hostname: string,
  options: LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const REFUSED_DETAIL = 'a loopback, private, link-local or metadata address';

/** Refused because a webhook there would reach this host, its network or the cloud provider's metadata service. */
export class RefusedAddressError extends Error {
  override readonly name = 'RefusedAddressError';
  readonly code = 'ERR_REFUSED_ADDRESS';

  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(`host ${host} resolves to ${address}, ${REFUSED_DETAIL}`);
  }
}

const REFUSED_IPV4: [network: string, prefix: number][] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT, where Alibaba Cloud puts its metadata service (100.100.100.200)
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // AWS, GCP and Azure metadata (169.254.169.254)
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];

const REFUSED_IPV6: [network: string, prefix: number][] = [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7], // AWS puts its IPv6 metadata service at fd00:ec2::254
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96], // NAT64 can translate to any IPv4 address, private ones included
  ['2001:db8::', 32],
];

const refused = new BlockList();
for (const [network, prefix] of REFUSED_IPV4) {
  refused.addSubnet(network, prefix, 'ipv4');
  // A socket to ::ffff:a.b.c.d reaches a.b.c.d, so the IPv4-mapped (and the old IPv4-compatible ::a.b.c.d)
  // forms are refused exactly where the IPv4 address is, however they are spelled (::ffff:7f00:1 is 127.0.0.1).
  refused.addSubnet(`::ffff:${network}`, 96 + prefix, 'ipv6');
  refused.addSubnet(`::${network}`, 96 + prefix, 'ipv6');
}
for (const [network, prefix] of REFUSED_IPV6) refused.addSubnet(network, prefix, 'ipv6');

/** A URL's host as Node connects to it: an IPv6 literal without its brackets. */
export const connectHostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

/** True when `ip` (IPv4, IPv6, or IPv4-mapped IPv6 like ::ffff:10.0.0.1 / ::ffff:a00:1) is in none of the refused ranges. */
export function isPublicAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 0) return false;
  return !refused.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Why `url` may not be a webhook endpoint, as a sentence for a 422 detail, or undefined when it may.
 * Unless `allowPrivate`, its host must be a public address or a name whose addresses are all public;
 * a name that does not resolve is refused too, since nothing could be delivered to it.
 *
 * @example
 * await webhookUrlProblem('http://127.0.0.1:9/', { allowPrivate: false });
 * // 'host 127.0.0.1 is a loopback, private, link-local or metadata address'
 */
export async function webhookUrlProblem(
  url: string,
  { allowPrivate, lookup = dnsPromises.lookup }: { allowPrivate: boolean; lookup?: LookupAll },
): Promise<string | undefined> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be an http or https URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'must be an http or https URL';
  // Credentials in the URL would be stored and shown with it, and sent on every delivery.
  if (parsed.username !== '' || parsed.password !== '') return 'must not contain credentials';
  if (allowPrivate) return undefined;

  // The URL parser has already normalised IPv4 literals (2130706433, 0x7f.1 → 127.0.0.1) and IPv6 ones.
  const host = connectHostOf(parsed);
  if (isIP(host) !== 0) return isPublicAddress(host) ? undefined : `host ${host} is ${REFUSED_DETAIL}`;

  let addresses: { address: string }[];
  try {
    addresses = await lookup(host, { all: true });
  } catch {
    return `host ${host} does not resolve`;
  }
  if (addresses.length === 0) return `host ${host} does not resolve`;
  const refusedAddress = addresses.find(({ address }) => !isPublicAddress(address));
  return refusedAddress && `host ${host} resolves to ${refusedAddress.address}, ${REFUSED_DETAIL}`;
}

/**
 * A `lookup` for `http.request`/`https.request` options that refuses, with a `RefusedAddressError`, a host with
 * any address that is not public (unless `allowPrivate`). It checks the very addresses the socket then connects
 * to, so a name that resolved to a public address when registered cannot be rebound to a private one since.
 *
 * Node never calls `lookup` for an IP-literal host: check those with `isPublicAddress` before sending.
 *
 * @example
 * https.request(url, { method: 'POST', lookup: guardedLookup({ allowPrivate: false }) });
 */
export function guardedLookup({
  allowPrivate,
  lookup = dnsLookup,
}: {
  allowPrivate: boolean;
  lookup?: CallbackLookupAll;
}): LookupFunction {
  return (hostname, options, callback) => {
    // Every address is resolved even when Node wants one, so none of them can be private.
    lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const first = addresses[0];
      if (!first) {
        const notFound: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
        notFound.code = 'ENOTFOUND';
        return callback(notFound, []);
      }
      const refusedAddress = allowPrivate
        ? undefined
        : addresses.find(({ address }) => !isPublicAddress(address));
      if (refusedAddress) return callback(new RefusedAddressError(hostname, refusedAddress.address), []);
      if (options.all) return callback(null, addresses);
      callback(null, first.address, first.family);
    });
  };
}
