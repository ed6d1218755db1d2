// SSRF protection for outgoing requests (webhooks). Anyone allowed to configure a webhook URL could
// otherwise make Berth POST to its own loopback services, to the cloud metadata endpoint (credentials) or
// to link-local devices. The check has to apply to the address actually connected to, so it lives in a
// `lookup` function that Node's net layer calls right before connecting (no gap for DNS rebinding: the
// name is resolved once, checked, and exactly those addresses are used). Node skips `lookup` for IP
// literals, so `checkUrl` covers those up front.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';

export type AddressClass = 'loopback' | 'link-local' | 'metadata' | 'private' | 'unspecified' | 'multicast' | 'public';

export interface AddressPolicy {
  /** 127/8, ::1. Default: refused. */
  allowLoopback?: boolean;
  /** 10/8, 172.16/12, 192.168/16, 100.64/10, 198.18/15, fc00::/7, fec0::/10. Default: ALLOWED (on-prem
   *  webhooks usually target internal hosts); refused only when `false`. */
  allowPrivate?: boolean;
  /** 169.254/16, fe80::/10 (metadata addresses excluded). Default: refused. */
  allowLinkLocal?: boolean;
  /** Cloud metadata endpoints. Refused unless exactly `true`: allowLinkLocal does not imply it. */
  allowMetadata?: boolean;
  /** The setting that allows a class (e.g. loopback: 'webhooks.allowLoopback'), named in refusals so that
   *  an operator learns what to change. */
  settings?: Partial<Record<AddressClass, string>>;
}

/** The error for a refused destination: code EADDRBLOCKED; names the class, never a URL's path or query. */
export class AddressBlockedError extends Error {
  readonly code = 'EADDRBLOCKED';
  /** `reason` is the message without "refused to connect: ", for answers that say "refused" themselves. */
  constructor(readonly addressClass: AddressClass | 'scheme', message: string, readonly reason = message) {
    super(message);
    this.name = 'AddressBlockedError';
  }
}

// ---------------------------------------------------------------------------------------------- parsing

function parseIPv4(s: string): number[] | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  return out.every((n) => n >= 0 && n <= 255) ? out : undefined;
}

/** Eight 16-bit groups; accepts `::` compression, a dotted IPv4 tail and a zone id (`%eth0`). */
function parseIPv6(input: string): number[] | undefined {
  let s = input;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (isIP(s) !== 6) return undefined;
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseIPv4(tail);
    if (!v4) return undefined;
    s = `${s.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const head = groups(halves[0]!);
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const rest = groups(halves[1]!);
  const fill = 8 - head.length - rest.length;
  return fill >= 1 ? [...head, ...new Array<number>(fill).fill(0), ...rest] : undefined;
}

// --------------------------------------------------------------------------------------- classification

const inV4 = (a: number[], net: [number, number, number, number], bits: number): boolean => {
  const ip = ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0;
  const n = ((net[0] << 24) | (net[1] << 16) | (net[2] << 8) | net[3]) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (ip & mask) === (n & mask);
};

function classifyV4(a: number[]): AddressClass {
  // Metadata first: these sit inside link-local / CGNAT ranges but are never allowed by those switches.
  if (inV4(a, [169, 254, 169, 254], 32)) return 'metadata'; // AWS, GCP, Azure, OpenStack, Oracle, DO
  if (inV4(a, [169, 254, 170, 2], 32)) return 'metadata'; // AWS ECS task credentials endpoint
  if (inV4(a, [100, 100, 100, 200], 32)) return 'metadata'; // Alibaba Cloud
  if (inV4(a, [0, 0, 0, 0], 8)) return 'unspecified'; // "this network": 0.0.0.0 reaches the local host on Linux
  if (inV4(a, [127, 0, 0, 0], 8)) return 'loopback';
  if (inV4(a, [169, 254, 0, 0], 16)) return 'link-local';
  if (inV4(a, [224, 0, 0, 0], 4)) return 'multicast';
  if (inV4(a, [255, 255, 255, 255], 32)) return 'multicast'; // limited broadcast: refused like multicast
  if (inV4(a, [240, 0, 0, 0], 4)) return 'unspecified'; // reserved, never a legitimate unicast destination
  if (inV4(a, [10, 0, 0, 0], 8) || inV4(a, [172, 16, 0, 0], 12) || inV4(a, [192, 168, 0, 0], 16)) return 'private';
  if (inV4(a, [100, 64, 0, 0], 10)) return 'private'; // CGNAT (RFC 6598)
  if (inV4(a, [198, 18, 0, 0], 15)) return 'private'; // benchmarking (RFC 2544), used inside some networks
  return 'public';
}

function classifyV6(g: number[]): AddressClass {
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  const embedded = (): number[] => [g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff];
  if (zeros(0, 8)) return 'unspecified';
  if (zeros(0, 7) && g[7] === 1) return 'loopback';
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::a.b.c.d)
  // reach the embedded IPv4 address, so they are judged by it.
  if (zeros(0, 5) && g[5] === 0xffff) return classifyV4(embedded());
  if (zeros(0, 6)) return classifyV4(embedded());
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return classifyV4(embedded());
  if (g[0] === 0xfd00 && g[1] === 0x0ec2 && zeros(2, 7) && g[7] === 0x254) return 'metadata'; // AWS IMDS over IPv6
  if ((g[0]! & 0xff00) === 0xff00) return 'multicast';
  if ((g[0]! & 0xffc0) === 0xfe80) return 'link-local';
  if ((g[0]! & 0xffc0) === 0xfec0) return 'private'; // site-local (deprecated), still internal
  if ((g[0]! & 0xfe00) === 0xfc00) return 'private'; // unique local fc00::/7
  return 'public';
}

/** Classifies an IPv4 or IPv6 address (brackets and zone ids tolerated). Throws TypeError for non-IPs. */
export function classifyAddress(ip: string): AddressClass {
  const bare = ip.replace(/^\[|\]$/g, '');
  if (isIP(bare) === 4) return classifyV4(parseIPv4(bare)!);
  const v6 = parseIPv6(bare);
  if (v6 && v6.length === 8) return classifyV6(v6);
  throw new TypeError('not an IP address');
}

export function isAllowed(cls: AddressClass, policy: AddressPolicy): boolean {
  switch (cls) {
    case 'public': return true;
    case 'private': return policy.allowPrivate !== false;
    case 'loopback': return policy.allowLoopback === true;
    case 'link-local': return policy.allowLinkLocal === true;
    case 'metadata': return policy.allowMetadata === true;
    case 'unspecified': case 'multicast': return false;
  }
}

const article = (cls: string) => (/^[aeiou]/.test(cls) ? 'an' : 'a');

/** `address` is what a name resolved to (undefined for a literal IP host). */
function refuse(host: string, cls: AddressClass, policy: AddressPolicy, address?: string): AddressBlockedError {
  const what = address === undefined ? `${host} is ${article(cls)} ${cls} address` : `${host} resolves to ${article(cls)} ${cls} address (${address})`;
  const setting = policy.settings?.[cls];
  const why = setting ? `set ${setting}: true to allow it` : 'not allowed by the outgoing-request policy';
  return new AddressBlockedError(cls, `refused to connect: ${what}; ${why}`, `${what}; ${why}`);
}

// ---------------------------------------------------------------------------------------------- checks

/** Throws AddressBlockedError for a non-http(s) scheme or a refused literal IP host. Names are left to
 *  `guardedLookup`, which sees what they resolve to. */
export function checkUrl(url: URL, policy: AddressPolicy): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AddressBlockedError('scheme', `refused scheme ${url.protocol.replace(/:$/, '')}: only http and https are allowed`);
  }
  // WHATWG URL parsing already normalized 2130706433, 0x7f.1 and friends to dotted form.
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) === 0) return;
  const cls = classifyAddress(host);
  if (!isAllowed(cls, policy)) throw refuse(host, cls, policy);
}

type BaseLookup = (hostname: string, options: LookupOptions & { all: true }, cb: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

/**
 * A `dns.lookup`-compatible function for the `lookup` option of http(s).request / net.connect. It
 * resolves every address of the name and refuses the whole name if ANY of them is refused: with
 * happy-eyeballs (Node 20's autoSelectFamily) the address tried first is not ours to choose, and a name
 * that points at the metadata service or loopback is not a legitimate webhook target anyway.
 * `baseLookup` exists for tests.
 */
export function guardedLookup(policy: AddressPolicy, baseLookup: BaseLookup = dnsLookup as unknown as BaseLookup): LookupFunction {
  return (hostname, options, callback) => {
    const opts = (typeof options === 'object' && options !== null ? options : {}) as LookupOptions;
    baseLookup(hostname, { ...opts, all: true }, (err, addresses) => {
      if (err) return callback(err, opts.all ? [] : '', undefined);
      if (!addresses || addresses.length === 0) {
        const e: NodeJS.ErrnoException = Object.assign(new Error(`no addresses for ${hostname}`), { code: 'ENOTFOUND' });
        return callback(e, opts.all ? [] : '', undefined);
      }
      for (const a of addresses) {
        let cls: AddressClass;
        try { cls = classifyAddress(a.address); } catch { cls = 'unspecified'; }
        if (!isAllowed(cls, policy)) return callback(refuse(hostname, cls, policy, a.address), opts.all ? [] : '', undefined);
      }
      if (opts.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}
