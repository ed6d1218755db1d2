// Docker registry bearer tokens (distribution docs spec/auth/token.md, jwt.md): ES256 JWTs with a `kid`,
// short-lived, issuer and audience checked. Keys rotate; a retired key still verifies until the tokens
// it signed have expired. Refresh tokens carry their own audience, so they never pass as access tokens.
import { generateKeyPairSync, randomUUID, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors, type JWK, type JWTPayload } from 'jose';
import type { ResourceScope } from './scope.js';
import { TokenError } from '../errors/token-error.js';

export interface SigningKey {
  kid: string;
  /** PKCS#8 PEM; present while the key may sign */
  privatePem?: string;
  publicJwk: JWK;
  createdAt: number;
  /** after this the key no longer signs (null: current) */
  signUntil: number | null;
  /** after this tokens signed by the key are refused (null: while it signs) */
  verifyUntil: number | null;
}

/** Where keys live: the database (private keys encrypted) for several processes, memory for tests. */
export interface KeyStore {
  list(): Promise<SigningKey[]>;
  add(key: SigningKey): Promise<void>;
  retire(kid: string, signUntil: number, verifyUntil: number): Promise<void>;
}

export class MemoryKeyStore implements KeyStore {
  private readonly keys = new Map<string, SigningKey>();
  async list(): Promise<SigningKey[]> { return [...this.keys.values()].map((k) => ({ ...k })); }
  async add(key: SigningKey): Promise<void> { this.keys.set(key.kid, { ...key }); }
  async retire(kid: string, signUntil: number, verifyUntil: number): Promise<void> {
    const k = this.keys.get(kid);
    if (k) this.keys.set(kid, { ...k, signUntil, verifyUntil, privatePem: undefined });
  }
}

export interface AccessClaims {
  subject: string;
  access: ResourceScope[];
  issuedAt: number;
  expiresAt: number;
  jti: string;
  /** how the subject authenticated: local, ldap, token, robot, anonymous */
  authSource?: string;
  /** what minted it: the account's credential generation then, and the access token (personal or robot) used */
  origin?: TokenOrigin;
}

/**
 * What a token was minted with, so that it dies with it: the account's credential generation
 * (tokens_valid_after: a password change, disabling or revocation moves it), the access token used to log in,
 * that access token's repository limits, and the access generation its grant was decided at (roles changed
 * since: the grant is decided afresh).
 */
export interface TokenOrigin { generation?: number; tokenId?: string; limit?: { pattern: string; actions: string[] }[]; accessGeneration?: number }

function originClaims(o: TokenOrigin | undefined): Record<string, unknown> {
  if (!o) return {};
  return {
    ...(o.generation !== undefined ? { cg: o.generation } : {}),
    ...(o.tokenId !== undefined ? { tid: o.tokenId } : {}),
    ...(o.accessGeneration !== undefined ? { ag: o.accessGeneration } : {}),
    ...(o.limit ? { lim: o.limit.map((l) => ({ pattern: l.pattern, actions: l.actions })) } : {}),
  };
}

function originOf(p: JWTPayload): TokenOrigin {
  const o: TokenOrigin = {};
  if (typeof p.cg === 'number') o.generation = p.cg;
  if (typeof p.tid === 'string') o.tokenId = p.tid;
  if (typeof p.ag === 'number') o.accessGeneration = p.ag;
  if (Array.isArray(p.lim)) {
    o.limit = (p.lim as unknown[]).filter((l): l is { pattern: string; actions: string[] } => typeof l === 'object' && l !== null && typeof (l as { pattern: unknown }).pattern === 'string'
      && Array.isArray((l as { actions: unknown }).actions) && (l as { actions: unknown[] }).actions.every((a) => typeof a === 'string'));
  }
  return o;
}

export interface TokenServiceOptions {
  issuer: string;
  /** the `service` clients name; the access tokens' audience */
  service: string;
  /** seconds; the spec's floor is 60 */
  lifetime?: number;
  refreshLifetime?: number;
  clockTolerance?: number;
  /** seconds a key signs before the next token is signed by a new one */
  rotateAfter?: number;
  now?: () => number;
}

const ALG = 'ES256';

/** Verified tokens kept at most: a bounded memory cost, enough for every client of a busy registry. */
const VERIFIED_MAX = 10_000;

export class TokenService {
  private cache: { keys: SigningKey[]; loaded: number } | undefined;
  // Public keys imported once per kid: importing a JWK on every verification was a quarter of the CPU
  // of a token-carrying pull.
  private readonly publicKeys = new Map<string, KeyObject>();
  // Tokens whose signature and claims verified, until they expire. Only the signature check is saved:
  // everything that can change (the account, its credential generation, the access token it came from)
  // is looked up in the database on every request, so revocation in any process still takes effect at once.
  private readonly verified = new Map<string, { payload: JWTPayload; kid: string; audience: string }>();
  private readonly lifetime: number;
  private readonly refreshLifetime: number;
  private readonly now: () => number;

  constructor(private readonly store: KeyStore, private readonly opts: TokenServiceOptions) {
    this.lifetime = Math.max(opts.lifetime ?? 300, 60);
    this.refreshLifetime = opts.refreshLifetime ?? 30 * 86_400;
    this.now = opts.now ?? Date.now;
  }

  private async keys(refresh = false): Promise<SigningKey[]> {
    if (!this.cache || refresh || this.now() - this.cache.loaded > 60_000) this.cache = { keys: await this.store.list(), loaded: this.now() };
    return this.cache.keys;
  }

  /** The key that signs now: created when there is none, replaced when it is older than the rotation period. */
  private async signer(): Promise<{ kid: string; key: KeyObject }> {
    let current = (await this.keys()).find((k) => k.signUntil === null && k.privatePem);
    if (!current) {
      current = (await this.keys(true)).find((k) => k.signUntil === null && k.privatePem) ?? await this.createKey();
    }
    if (this.opts.rotateAfter && this.now() - current.createdAt > this.opts.rotateAfter * 1000) {
      // Another process may just have rotated: look again before rotating.
      const fresh = (await this.keys(true)).find((k) => k.signUntil === null && k.privatePem);
      if (fresh && this.now() - fresh.createdAt <= this.opts.rotateAfter * 1000) current = fresh;
      else {
        await this.rotate();
        current = (await this.keys()).find((k) => k.signUntil === null && k.privatePem)!;
      }
    }
    return { kid: current.kid, key: createPrivateKey(current.privatePem!) };
  }

  private async createKey(): Promise<SigningKey> {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const kid = randomUUID();
    const key: SigningKey = {
      kid, privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      publicJwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: ALG, use: 'sig' } as JWK,
      createdAt: this.now(), signUntil: null, verifyUntil: null,
    };
    await this.store.add(key);
    await this.keys(true);
    return key;
  }

  /** New tokens are signed by a new key; the old one verifies until its last token expires. */
  async rotate(): Promise<string> {
    const now = this.now();
    for (const k of await this.keys(true)) {
      // Other processes may sign with it until their key cache (60 s) refreshes: the tokens they sign
      // meanwhile must verify for their whole lifetime too.
      if (k.signUntil === null) await this.store.retire(k.kid, now, now + (this.lifetime + (this.opts.clockTolerance ?? 30) + 60) * 1000);
    }
    return (await this.createKey()).kid;
  }

  /** Public keys that may still verify, as a JWKS document. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const now = this.now();
    return { keys: (await this.keys(true)).filter((k) => k.verifyUntil === null || k.verifyUntil > now).map((k) => k.publicJwk) };
  }

  async issueAccess(subject: string, access: ResourceScope[], authSource?: string, origin?: TokenOrigin): Promise<{ token: string; expiresIn: number; issuedAt: string }> {
    const { kid, key } = await this.signer();
    const iat = Math.floor(this.now() / 1000);
    const token = await new SignJWT({ access: access.map((a) => ({ type: a.type, name: a.name, actions: a.actions })), ...(authSource ? { auth_source: authSource } : {}), ...originClaims(origin), token_use: 'access' })
      .setProtectedHeader({ alg: ALG, kid, typ: 'JWT' })
      .setIssuer(this.opts.issuer).setAudience(this.opts.service).setSubject(subject)
      .setIssuedAt(iat).setNotBefore(iat - 1).setExpirationTime(iat + this.lifetime).setJti(randomUUID())
      .sign(key);
    return { token, expiresIn: this.lifetime, issuedAt: new Date(iat * 1000).toISOString() };
  }

  async issueRefresh(subject: string, authSource?: string, origin?: TokenOrigin): Promise<string> {
    const { kid, key } = await this.signer();
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({ token_use: 'refresh', ...(authSource ? { auth_source: authSource } : {}), ...originClaims(origin) })
      .setProtectedHeader({ alg: ALG, kid, typ: 'JWT' })
      .setIssuer(this.opts.issuer).setAudience(`${this.opts.service}#refresh`).setSubject(subject)
      .setIssuedAt(iat).setExpirationTime(iat + this.refreshLifetime).setJti(randomUUID())
      .sign(key);
  }

  async verifyAccess(token: string): Promise<AccessClaims> {
    const p = await this.verify(token, this.opts.service, 'access');
    const access = Array.isArray(p.access) ? (p.access as unknown[]).filter(isScope) : null;
    if (!access) throw new TokenError('access claim missing or malformed');
    return { subject: p.sub!, access, issuedAt: p.iat! * 1000, expiresAt: p.exp! * 1000, jti: p.jti ?? '', authSource: p.auth_source as string | undefined, origin: originOf(p) };
  }

  async verifyRefresh(token: string): Promise<{ subject: string; issuedAt: number; authSource?: string; origin: TokenOrigin }> {
    const p = await this.verify(token, `${this.opts.service}#refresh`, 'refresh');
    return { subject: p.sub!, issuedAt: p.iat! * 1000, authSource: p.auth_source as string | undefined, origin: originOf(p) };
  }

  private async verify(token: string, audience: string, use: string): Promise<JWTPayload> {
    const hit = this.verified.get(token);
    if (hit && hit.audience === audience && this.stillVerifies(hit.payload, hit.kid)) return hit.payload;
    if (hit) this.verified.delete(token);
    const payload = await this.verifyFully(token, audience, use);
    if (this.verified.size >= VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, { payload, kid: this.kidOf(token), audience });
    return payload;
  }

  /** A cached verification holds while the token has not expired and its key still verifies. */
  private stillVerifies(p: JWTPayload, kid: string): boolean {
    const now = this.now();
    // Keys older than the key cache's age are looked at afresh by a full verification.
    if (!this.cache || now - this.cache.loaded > 60_000) return false;
    // jose's rule: expired when exp <= now - tolerance
    if (p.exp! <= Math.floor(now / 1000) - (this.opts.clockTolerance ?? 30)) return false;
    const key = this.cache?.keys.find((k) => k.kid === kid);
    return key !== undefined && (key.verifyUntil === null || key.verifyUntil > now);
  }

  private kidOf(token: string): string {
    try {
      return (JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString()) as { kid?: string }).kid ?? '';
    } catch {
      return '';
    }
  }

  private publicKey(k: SigningKey): KeyObject {
    let key = this.publicKeys.get(k.kid);
    if (!key) {
      key = createPublicKey({ key: k.publicJwk as never, format: 'jwk' });
      this.publicKeys.set(k.kid, key);
    }
    return key;
  }

  private async verifyFully(token: string, audience: string, use: string): Promise<JWTPayload> {
    let result;
    try {
      result = await jwtVerify(token, async (header) => {
        if (header.alg !== ALG) throw new TokenError(`algorithm ${String(header.alg)} not accepted`);
        const now = this.now();
        const usable = (k: SigningKey) => k.kid === header.kid && (k.verifyUntil === null || k.verifyUntil > now);
        // Another process may have rotated: look once more in the store before refusing a kid.
        const key = (await this.keys()).find(usable) ?? (await this.keys(true)).find(usable);
        if (!key) throw new TokenError('unknown or retired signing key');
        return this.publicKey(key);
      }, {
        issuer: this.opts.issuer, audience, algorithms: [ALG], requiredClaims: ['sub', 'exp', 'iat', 'jti'],
        clockTolerance: this.opts.clockTolerance ?? 30, currentDate: new Date(this.now()),
      });
    } catch (e) {
      if (e instanceof TokenError) throw e;
      if (e instanceof joseErrors.JWTExpired) throw new TokenError('expired');
      if (e instanceof joseErrors.JWTClaimValidationFailed) throw new TokenError(`claim ${e.claim} rejected`);
      if (e instanceof joseErrors.JOSEError) throw new TokenError(e.code);
      throw new TokenError('malformed');
    }
    if (result.payload.token_use !== use) throw new TokenError(`not an ${use} token`);
    return result.payload;
  }
}

function isScope(v: unknown): v is ResourceScope {
  const s = v as ResourceScope;
  return typeof s === 'object' && s !== null && typeof s.type === 'string' && typeof s.name === 'string' && Array.isArray(s.actions) && s.actions.every((a) => typeof a === 'string');
}
