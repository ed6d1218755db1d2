// Docker's token authentication as a real client does it (distribution spec/auth/token.md): an
// unauthenticated request is answered 401 with `WWW-Authenticate: Bearer realm=…,service=…`; the client
// asks the realm for a token with Basic credentials and the scopes it needs, then sends
// `Authorization: Bearer <token>` on every request until shortly before the token expires.
import { RequestError, request } from './http.js';

export interface Auth {
  readonly kind: 'tokens' | 'none';
  /**
   * Headers for a request needing `scopes` (e.g. `repository:bench/small:pull`): a cached token that
   * stays valid for at least `minValidMs` more, or a new one.
   */
  headers(scopes: string[], minValidMs?: number): Promise<Record<string, string>>;
}

export const NO_AUTH: Auth = { kind: 'none', headers: async () => ({}) };

export const repoScope = (name: string, actions = 'pull,push') => `repository:${name}:${actions}`;
export const CATALOG_SCOPE = 'registry:catalog:*';

/** key="value" pairs of a Bearer challenge. */
export function parseChallenge(header: string): Record<string, string> {
  const m = /^\s*bearer\s+(.*)$/i.exec(header);
  if (!m) throw new Error(`not a Bearer challenge: ${header}`);
  const out: Record<string, string> = {};
  for (const p of m[1].matchAll(/([a-z_]+)="([^"]*)"/gi)) out[p[1].toLowerCase()] = p[2];
  return out;
}

interface Cached { token: string; expiresAt: number }

/** Refreshed when less than this is left (unless the caller asks for more). */
const DEFAULT_MIN_VALID_MS = 30_000;

export class TokenAuth implements Auth {
  readonly kind = 'tokens' as const;
  private challenge?: Promise<{ realm: string; service: string }>;
  private readonly cache = new Map<string, Cached>();
  private readonly pending = new Map<string, Promise<Cached>>();
  /** tokens obtained from the realm so far */
  issued = 0;
  /** lifetime (expires_in, seconds) of the last token obtained */
  lifetimeS = 0;

  constructor(readonly base: string, private readonly user: string, private readonly password: string) {}

  /** GET /v2/ without credentials: the 401 names the realm and the service, as a client's first request learns them. */
  private discover(): Promise<{ realm: string; service: string }> {
    this.challenge ??= (async () => {
      const u = new URL('/v2/', this.base);
      const res = await request('GET', u);
      const h = res.headers['www-authenticate'];
      if (res.status !== 401 || typeof h !== 'string') throw new RequestError('GET', '/v2/', res.status, res.body.toString().slice(0, 500), 'expected 401 with a Bearer challenge');
      const c = parseChallenge(h);
      if (!c.realm || !c.service) throw new RequestError('GET', '/v2/', 401, '', `challenge without realm/service: ${h}`);
      return { realm: c.realm, service: c.service };
    })();
    this.challenge.catch(() => (this.challenge = undefined));
    return this.challenge;
  }

  private async fetchToken(scopes: string[]): Promise<Cached> {
    const { realm, service } = await this.discover();
    const u = new URL(realm);
    u.searchParams.set('service', service);
    for (const s of scopes) u.searchParams.append('scope', s);
    const basic = `Basic ${Buffer.from(`${this.user}:${this.password}`).toString('base64')}`;
    const t0 = Date.now();
    const res = await request('GET', u, { headers: { authorization: basic } });
    if (res.status !== 200) throw new RequestError('GET', u.pathname + u.search, res.status, res.body.toString().slice(0, 500), 'token request refused');
    const body = JSON.parse(res.body.toString()) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) throw new RequestError('GET', u.pathname, 200, res.body.toString().slice(0, 500), 'no token in the answer');
    // The spec's default when expires_in is absent is 60 s; counted from when we asked.
    this.lifetimeS = body.expires_in ?? 60;
    this.issued++;
    return { token, expiresAt: t0 + this.lifetimeS * 1000 };
  }

  /** A token for `scopes` valid for at least `minValidMs` more (a fresh one can give at most its lifetime). */
  async token(scopes: string[], minValidMs = DEFAULT_MIN_VALID_MS): Promise<Cached> {
    const key = scopes.join(' ');
    const c = this.cache.get(key);
    if (c && c.expiresAt - Date.now() >= minValidMs) return c;
    // Concurrent callers share one token request per scope set.
    let p = this.pending.get(key);
    if (!p) {
      p = this.fetchToken(scopes).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
      p.then((t) => this.cache.set(key, t), () => undefined);
    }
    return p;
  }

  async headers(scopes: string[], minValidMs?: number): Promise<Record<string, string>> {
    return { authorization: `Bearer ${(await this.token(scopes, minValidMs)).token}` };
  }
}
