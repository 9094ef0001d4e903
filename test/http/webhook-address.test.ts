import type { LookupAddress, LookupAllOptions, LookupOptions } from 'node:dns';
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  type CallbackLookupAll,
  guardedLookup,
  isPublicAddress,
  type LookupAll,
  RefusedAddressError,
  webhookUrlProblem,
} from '../../src/http/webhook-address.js';

// Every refused range at its edges; the neighbours just outside are in PUBLIC.
const REFUSED: Record<string, string[]> = {
  '0.0.0.0/8': ['0.0.0.0', '0.255.255.255'],
  '10.0.0.0/8': ['10.0.0.0', '10.255.255.255'],
  '100.64.0.0/10': ['100.64.0.0', '100.100.100.200', '100.127.255.255'],
  '127.0.0.0/8': ['127.0.0.0', '127.0.0.1', '127.255.255.255'],
  '169.254.0.0/16': ['169.254.0.0', '169.254.169.254', '169.254.255.255'],
  '172.16.0.0/12': ['172.16.0.0', '172.31.255.255'],
  '192.0.0.0/24': ['192.0.0.0', '192.0.0.255'],
  '192.0.2.0/24': ['192.0.2.0', '192.0.2.255'],
  '192.168.0.0/16': ['192.168.0.0', '192.168.255.255'],
  '198.18.0.0/15': ['198.18.0.0', '198.19.255.255'],
  '198.51.100.0/24': ['198.51.100.0', '198.51.100.255'],
  '203.0.113.0/24': ['203.0.113.0', '203.0.113.255'],
  '224.0.0.0/4': ['224.0.0.0', '239.255.255.255'],
  '240.0.0.0/4': ['240.0.0.0', '255.255.255.255'],
  '::/128': ['::', '0:0:0:0:0:0:0:0'],
  '::1/128': ['::1'],
  'fc00::/7': ['fc00::', 'fd00:ec2::254', 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  'fe80::/10': ['fe80::', 'FE80::1', 'fe80::1%eth0', 'febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  'ff00::/8': ['ff00::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  '64:ff9b::/96': ['64:ff9b::', '64:ff9b::a00:1', '64:ff9b::ffff:ffff'],
  '2001:db8::/32': ['2001:db8::', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'],
  'IPv4-mapped': [
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:a00:1',
    '0:0:0:0:0:ffff:a9fe:a9fe',
    '::ffff:0.0.0.0',
  ],
  'IPv4-compatible': ['::127.0.0.1', '::a00:1', '::ffff', '::ffff:ffff'],
};

const PUBLIC: Record<string, string[]> = {
  'just outside an IPv4 range': [
    '1.0.0.0',
    '9.255.255.255',
    '11.0.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '126.255.255.255',
    '128.0.0.0',
    '169.253.255.255',
    '169.255.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '191.255.255.255',
    '192.0.1.0',
    '192.0.3.0',
    '192.167.255.255',
    '192.169.0.0',
    '198.17.255.255',
    '198.20.0.0',
    '198.51.99.255',
    '198.51.101.0',
    '203.0.112.255',
    '203.0.114.0',
    '223.255.255.255',
  ],
  'just outside an IPv6 range': [
    '::2:0:0',
    'fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    'fec0::',
    'feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    '64:ff9b::1:0:0',
    '64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff',
    '2001:db7:ffff:ffff:ffff:ffff:ffff:ffff',
    '2001:db9::',
  ],
  'public resolver': ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111'],
  'IPv4-mapped public': ['::ffff:8.8.8.8', '::ffff:808:808', '::ffff:1.0.0.0'],
  'IPv4-compatible public': ['::8.8.8.8', '::808:808'],
};

/** `{ range: [address…] }` as rows of `[address, range]`. */
const rows = (table: Record<string, string[]>) =>
  Object.entries(table).flatMap(([range, addresses]) => addresses.map((address) => [address, range]));

const GARBAGE = [
  '',
  'not-an-ip',
  '127.0.0.1 ',
  '127.1',
  '0x7f.0.0.1',
  '[::1]',
  '::ffff:127.0.0.256',
  'localhost',
];

describe('isPublicAddress', () => {
  it.each(rows(REFUSED))('refuses %s (%s)', (ip) => {
    expect(isPublicAddress(ip)).toBe(false);
  });

  it.each(rows(PUBLIC))('accepts %s (%s)', (ip) => {
    expect(isPublicAddress(ip)).toBe(true);
  });

  it.each(GARBAGE)('refuses what is not an address: %j', (ip) => {
    expect(isPublicAddress(ip)).toBe(false);
  });

  it('judges an IPv4-mapped address, however spelled, as its IPv4 address', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        const [a, b, c, d] = ip.split('.').map(Number) as [number, number, number, number];
        const hex = `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
        const verdict = isPublicAddress(ip);
        expect(isPublicAddress(`::ffff:${ip}`)).toBe(verdict);
        expect(isPublicAddress(`::ffff:${hex}`)).toBe(verdict);
        expect(isPublicAddress(`::${hex}`)).toBe(verdict);
      }),
    );
  });
});

/** A `LookupAll` answering `addresses` for every name, recording the names it was asked. */
function lookupAnswering(...addresses: string[]) {
  const asked: string[] = [];
  const lookup: LookupAll = async (host) => {
    asked.push(host);
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return { lookup, asked };
}

const REFUSED_HOST = 'a loopback, private, link-local or metadata address';

describe('webhookUrlProblem', () => {
  it.each([
    ['not a url', 'must be an http or https URL'],
    ['/relative/path', 'must be an http or https URL'],
    ['ftp://files.example/hook', 'must be an http or https URL'],
    ['file:///etc/passwd', 'must be an http or https URL'],
    ['javascript:alert(1)', 'must be an http or https URL'],
    ['https://user:pw@x.example/hook', 'must not contain credentials'],
    ['https://user@x.example/hook', 'must not contain credentials'],
    ['https://:pw@x.example/hook', 'must not contain credentials'],
  ])('refuses %s, whether private addresses are allowed or not', async (url, problem) => {
    for (const allowPrivate of [false, true]) {
      const { lookup } = lookupAnswering('8.8.8.8');
      expect(await webhookUrlProblem(url, { allowPrivate, lookup })).toBe(problem);
    }
  });

  it.each([
    ['http://127.0.0.1:9/', 'host 127.0.0.1'],
    ['http://[::1]/', 'host ::1'],
    ['http://[::ffff:169.254.169.254]/latest/meta-data/', 'host ::ffff:a9fe:a9fe'],
    ['http://2130706433/', 'host 127.0.0.1'],
    ['http://0x7f.1/', 'host 127.0.0.1'],
    ['https://10.0.0.1./hook', 'host 10.0.0.1'],
  ])('refuses the private literal in %s without resolving it', async (url, host) => {
    const { lookup, asked } = lookupAnswering('8.8.8.8');
    expect(await webhookUrlProblem(url, { allowPrivate: false, lookup })).toBe(`${host} is ${REFUSED_HOST}`);
    expect(asked).toEqual([]);
  });

  it.each(['https://8.8.8.8/hook', 'https://[2606:4700:4700::1111]:8443/hook'])(
    'accepts the public literal in %s without resolving it',
    async (url) => {
      const { lookup, asked } = lookupAnswering('10.0.0.1');
      expect(await webhookUrlProblem(url, { allowPrivate: false, lookup })).toBeUndefined();
      expect(asked).toEqual([]);
    },
  );

  it('refuses a name when any of its addresses is private', async () => {
    const { lookup, asked } = lookupAnswering('8.8.8.8', '10.0.0.1');
    expect(await webhookUrlProblem('https://hooks.example/in', { allowPrivate: false, lookup })).toBe(
      `host hooks.example resolves to 10.0.0.1, ${REFUSED_HOST}`,
    );
    expect(asked).toEqual(['hooks.example']);
  });

  it('accepts a name whose addresses are all public', async () => {
    const { lookup } = lookupAnswering('8.8.8.8', '2606:4700:4700::1111');
    expect(
      await webhookUrlProblem('https://hooks.example/in', { allowPrivate: false, lookup }),
    ).toBeUndefined();
  });

  it('refuses a name that does not resolve', async () => {
    const lookup: LookupAll = async (host) => {
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    };
    expect(await webhookUrlProblem('https://example.invalid/', { allowPrivate: false, lookup })).toBe(
      'host example.invalid does not resolve',
    );
    const { lookup: nothing } = lookupAnswering();
    expect(await webhookUrlProblem('https://empty.example/', { allowPrivate: false, lookup: nothing })).toBe(
      'host empty.example does not resolve',
    );
  });

  it('checks only the syntax when private addresses are allowed', async () => {
    const { lookup, asked } = lookupAnswering('10.0.0.1');
    for (const url of ['http://127.0.0.1:9/', 'http://[::1]/', 'http://hooks.internal/in']) {
      expect(await webhookUrlProblem(url, { allowPrivate: true, lookup })).toBeUndefined();
    }
    expect(asked).toEqual([]);
  });

  it('resolves with the system resolver by default', async () => {
    // Which loopback address comes first depends on the machine's hosts file.
    expect(await webhookUrlProblem('http://localhost:9/', { allowPrivate: false })).toMatch(
      /^host localhost resolves to (127\.0\.0\.1|::1), a loopback/,
    );
  });
});

/** A `dns.lookup` stand-in answering `addresses` for every name, recording the options it was called with. */
function dnsLookupAnswering(...addresses: string[]) {
  const calls: LookupAllOptions[] = [];
  const lookup: CallbackLookupAll = (_hostname, options, callback) => {
    calls.push(options);
    setImmediate(() =>
      callback(
        null,
        addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
      ),
    );
  };
  return { lookup, calls };
}

/** Calls a `LookupFunction` and gives back everything it called back with. */
function callLookup(lookup: ReturnType<typeof guardedLookup>, hostname: string, options: LookupOptions) {
  return new Promise<{
    err: NodeJS.ErrnoException | null;
    address: string | LookupAddress[];
    family?: number;
  }>((resolve) => lookup(hostname, options, (err, address, family) => resolve({ err, address, family })));
}

describe('guardedLookup', () => {
  it('answers every address when Node asks for all', async () => {
    const { lookup, calls } = dnsLookupAnswering('8.8.8.8', '2606:4700:4700::1111');
    const answer = await callLookup(guardedLookup({ allowPrivate: false, lookup }), 'hooks.example', {
      all: true,
      family: 0,
    });
    expect(answer.err).toBeNull();
    expect(answer.address).toEqual([
      { address: '8.8.8.8', family: 4 },
      { address: '2606:4700:4700::1111', family: 6 },
    ]);
    expect(calls).toEqual([{ all: true, family: 0 }]);
  });

  it('answers the first address and its family when Node asks for one', async () => {
    const { lookup, calls } = dnsLookupAnswering('2606:4700:4700::1111', '8.8.8.8');
    const answer = await callLookup(guardedLookup({ allowPrivate: false, lookup }), 'hooks.example', {
      family: 6,
    });
    expect(answer).toEqual({ err: null, address: '2606:4700:4700::1111', family: 6 });
    expect(calls).toEqual([{ all: true, family: 6 }]);
  });

  it.each([true, false])('refuses a name with any private address (all: %s)', async (all) => {
    const { lookup } = dnsLookupAnswering('8.8.8.8', '169.254.169.254');
    const { err } = await callLookup(guardedLookup({ allowPrivate: false, lookup }), 'rebound.example', {
      all,
    });
    expect(err).toBeInstanceOf(RefusedAddressError);
    expect(err).toMatchObject({
      code: 'ERR_REFUSED_ADDRESS',
      host: 'rebound.example',
      address: '169.254.169.254',
      message: `host rebound.example resolves to 169.254.169.254, ${REFUSED_HOST}`,
    });
  });

  it('answers private addresses when they are allowed', async () => {
    const { lookup } = dnsLookupAnswering('10.0.0.1');
    const answer = await callLookup(guardedLookup({ allowPrivate: true, lookup }), 'hooks.internal', {});
    expect(answer).toEqual({ err: null, address: '10.0.0.1', family: 4 });
  });

  it('passes resolution errors through, and treats no address as not found', async () => {
    const failure = Object.assign(new Error('getaddrinfo EAI_AGAIN hooks.example'), { code: 'EAI_AGAIN' });
    const failing: CallbackLookupAll = (_hostname, _options, callback) => callback(failure, []);
    expect(
      (await callLookup(guardedLookup({ allowPrivate: false, lookup: failing }), 'hooks.example', {})).err,
    ).toBe(failure);
    const { lookup: nothing } = dnsLookupAnswering();
    const { err } = await callLookup(
      guardedLookup({ allowPrivate: true, lookup: nothing }),
      'empty.example',
      {},
    );
    expect(err).toMatchObject({ code: 'ENOTFOUND' });
  });

  describe('over a real socket', () => {
    async function startServer() {
      const connections: unknown[] = [];
      const server = createServer((_req, res) => res.end('delivered'));
      server.on('connection', (socket) => connections.push(socket));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      onTestFinished(async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      });
      return { port: (server.address() as AddressInfo).port, connections };
    }

    function getLocalhost(port: number, allowPrivate: boolean) {
      return new Promise<{ status?: number; body?: string; error?: NodeJS.ErrnoException }>((resolve) => {
        const req = get(
          { host: 'localhost', port, agent: false, lookup: guardedLookup({ allowPrivate }) },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              body += chunk;
            });
            res.on('end', () => resolve({ status: res.statusCode, body }));
          },
        );
        req.on('error', (error) => resolve({ error }));
      });
    }

    it('never connects to a private address', async () => {
      const { port, connections } = await startServer();
      const { error, status } = await getLocalhost(port, false);
      expect(status).toBeUndefined();
      expect(error).toBeInstanceOf(RefusedAddressError);
      expect(error?.code).toBe('ERR_REFUSED_ADDRESS');
      expect(connections).toHaveLength(0);
    });

    it('connects when private addresses are allowed', async () => {
      const { port, connections } = await startServer();
      expect(await getLocalhost(port, true)).toEqual({ status: 200, body: 'delivered' });
      expect(connections).toHaveLength(1);
    });
  });
});
