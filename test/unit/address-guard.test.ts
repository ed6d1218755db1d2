import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import {
  AddressBlockedError, checkUrl, classifyAddress, guardedLookup, isAllowed, type AddressClass, type AddressPolicy,
} from '../../src/lib/address-guard.js';

describe('classifyAddress', () => {
  const cases: Array<[string, AddressClass]> = [
    ['127.0.0.1', 'loopback'], ['127.255.0.9', 'loopback'], ['::1', 'loopback'], ['[::1]', 'loopback'],
    ['0.0.0.0', 'unspecified'], ['0.1.2.3', 'unspecified'], ['::', 'unspecified'],
    ['169.254.1.1', 'link-local'], ['fe80::1', 'link-local'], ['fe80::1%eth0', 'link-local'], ['febf:ffff::1', 'link-local'],
    ['169.254.169.254', 'metadata'], ['169.254.170.2', 'metadata'], ['100.100.100.200', 'metadata'], ['fd00:ec2::254', 'metadata'],
    ['10.0.0.1', 'private'], ['10.255.255.255', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'],
    ['192.168.1.10', 'private'], ['100.64.0.1', 'private'], ['100.127.255.255', 'private'],
    ['fc00::1', 'private'], ['fd12:3456:789a::1', 'private'],
    ['224.0.0.1', 'multicast'], ['239.255.255.250', 'multicast'], ['ff02::1', 'multicast'], ['ff0e::1', 'multicast'],
    ['8.8.8.8', 'public'], ['172.15.255.255', 'public'], ['172.32.0.1', 'public'], ['100.63.255.255', 'public'],
    ['100.128.0.1', 'public'], ['169.253.255.255', 'public'], ['192.169.0.1', 'public'],
    ['2001:4860:4860::8888', 'public'], ['2606:4700::1111', 'public'], ['fd00:ec2::253', 'private'],
    // IPv4 embedded in IPv6 is judged by the IPv4 address it reaches
    ['::ffff:127.0.0.1', 'loopback'], ['::ffff:7f00:1', 'loopback'], ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:10.1.2.3', 'private'], ['::ffff:8.8.8.8', 'public'], ['::ffff:0.0.0.0', 'unspecified'],
    ['::127.0.0.1', 'loopback'], ['64:ff9b::a9fe:a9fe', 'metadata'], ['64:ff9b::808:808', 'public'],
  ];
  for (const [ip, cls] of cases) {
    test(`${ip} → ${cls}`, () => assert.equal(classifyAddress(ip), cls));
  }

  test('non-addresses throw', () => {
    for (const bad of ['', 'localhost', '1.2.3', '256.1.1.1', '1::2::3', '1:2:3:4:5:6:7:8:9', 'example.com']) {
      assert.throws(() => classifyAddress(bad), TypeError, bad);
    }
  });
});

describe('policy', () => {
  test('defaults: public and private allowed; loopback, link-local, metadata, unspecified, multicast refused', () => {
    const p: AddressPolicy = {};
    assert.equal(isAllowed('public', p), true);
    assert.equal(isAllowed('private', p), true);
    for (const c of ['loopback', 'link-local', 'metadata', 'unspecified', 'multicast'] as const) assert.equal(isAllowed(c, p), false, c);
  });

  test('switches open only their own class; metadata needs allowMetadata itself', () => {
    assert.equal(isAllowed('private', { allowPrivate: false }), false);
    assert.equal(isAllowed('loopback', { allowLoopback: true }), true);
    assert.equal(isAllowed('link-local', { allowLinkLocal: true }), true);
    const everythingButMetadata = { allowLoopback: true, allowPrivate: true, allowLinkLocal: true };
    assert.equal(isAllowed('metadata', everythingButMetadata), false);
    assert.equal(isAllowed('metadata', { allowMetadata: true }), true);
    assert.equal(isAllowed('unspecified', { ...everythingButMetadata, allowMetadata: true }), false);
    assert.equal(isAllowed('multicast', { ...everythingButMetadata, allowMetadata: true }), false);
  });
});

describe('checkUrl', () => {
  const blocked = (u: string, policy: AddressPolicy = {}) => {
    try {
      checkUrl(new URL(u), policy);
    } catch (err) {
      assert.ok(err instanceof AddressBlockedError);
      return err;
    }
    return undefined;
  };

  test('refuses non-http(s) schemes', () => {
    for (const u of ['ftp://example.com/x', 'file:///etc/passwd', 'gopher://example.com/', 'data:text/plain,hi']) {
      const err = blocked(u);
      assert.ok(err, u);
      assert.equal(err.code, 'EADDRBLOCKED');
      assert.equal(err.addressClass, 'scheme');
    }
  });

  test('refuses refused literal IPs, including the spellings URL parsing normalizes', () => {
    for (const u of ['http://127.0.0.1/', 'http://[::1]:8080/', 'http://2130706433/', 'http://0x7f.1/', 'http://127.1/',
      'http://[::ffff:127.0.0.1]/', 'http://169.254.169.254/latest/meta-data/', 'http://0.0.0.0:80/', 'https://[fe80::1]/',
      'http://[fd00:ec2::254]/', 'http://224.0.0.1/']) {
      assert.ok(blocked(u), u);
    }
    assert.equal(blocked('http://127.0.0.1/')!.addressClass, 'loopback');
    assert.equal(blocked('http://169.254.169.254/')!.addressClass, 'metadata');
  });

  test('lets names through (the lookup checks them) and allowed literals', () => {
    assert.equal(blocked('http://localhost/'), undefined, 'names are checked at lookup time');
    assert.equal(blocked('https://hooks.example.com/x'), undefined);
    assert.equal(blocked('http://10.1.2.3:8080/hook'), undefined);
    assert.equal(blocked('http://8.8.8.8/'), undefined);
    assert.equal(blocked('http://127.0.0.1/', { allowLoopback: true }), undefined);
    assert.ok(blocked('http://10.1.2.3/', { allowPrivate: false }));
  });

  test('the error names the class but not the path or query', () => {
    const err = blocked('http://127.0.0.1:9/hook?token=SUPERSECRET#frag');
    assert.match(err!.message, /loopback/);
    assert.doesNotMatch(err!.message, /SUPERSECRET|\/hook|frag/);
  });
});

describe('guardedLookup', () => {
  type Cb = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
  const fake = (answers: Record<string, LookupAddress[]>) =>
    (hostname: string, _opts: unknown, cb: (err: NodeJS.ErrnoException | null, a: LookupAddress[]) => void) => {
      const a = answers[hostname];
      if (!a) return cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
      cb(null, a);
    };
  const run = (lookup: ReturnType<typeof guardedLookup>, host: string, all: boolean) =>
    new Promise<{ err: NodeJS.ErrnoException | null; address: string | LookupAddress[]; family?: number }>((resolve) => {
      const cb: Cb = (err, address, family) => resolve({ err, address, family });
      lookup(host, { all }, cb);
    });
  const answers = {
    'public.test': [{ address: '93.184.216.34', family: 4 }, { address: '2606:2800:220:1::1', family: 6 }],
    'internal.test': [{ address: '10.0.0.7', family: 4 }],
    'rebind.test': [{ address: '93.184.216.34', family: 4 }, { address: '169.254.169.254', family: 4 }],
    'mapped.test': [{ address: '::ffff:127.0.0.1', family: 6 }],
  };

  test('returns the first address, or all of them, as dns.lookup does', async () => {
    const lookup = guardedLookup({}, fake(answers));
    const one = await run(lookup, 'public.test', false);
    assert.equal(one.err, null);
    assert.equal(one.address, '93.184.216.34');
    assert.equal(one.family, 4);
    const all = await run(lookup, 'public.test', true);
    assert.deepEqual(all.address, answers['public.test']);
    assert.equal((await run(lookup, 'internal.test', true)).err, null, 'private allowed by default');
  });

  test('refuses the whole name if any address is refused, with EADDRBLOCKED naming the class', async () => {
    const lookup = guardedLookup({}, fake(answers));
    for (const [host, cls] of [['rebind.test', 'metadata'], ['mapped.test', 'loopback']] as const) {
      for (const all of [false, true]) {
        const r = await run(lookup, host, all);
        assert.ok(r.err instanceof AddressBlockedError, host);
        assert.equal(r.err.code, 'EADDRBLOCKED');
        assert.match(r.err.message, new RegExp(cls));
        assert.match(r.err.message, new RegExp(host.replace('.', '\\.')));
      }
    }
    const strict = await run(guardedLookup({ allowPrivate: false }, fake(answers)), 'internal.test', false);
    assert.match(String(strict.err?.message), /private/);
  });

  test('passes resolver errors through', async () => {
    const r = await run(guardedLookup({}, fake(answers)), 'missing.test', false);
    assert.equal(r.err?.code, 'ENOTFOUND');
  });

  test('with the real resolver: localhost is refused by default and allowed with allowLoopback', async () => {
    const refused = await run(guardedLookup({}), 'localhost', true);
    assert.equal(refused.err?.code, 'EADDRBLOCKED');
    assert.match(String(refused.err?.message), /loopback/);
    const allowed = await run(guardedLookup({ allowLoopback: true }), 'localhost', false);
    assert.equal(allowed.err, null);
    assert.equal(classifyAddress(allowed.address as string), 'loopback');
  });
});
