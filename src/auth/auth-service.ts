// Who is calling, and what a token may grant: local accounts and bearer tokens, decided by policy.ts.
import { TOKEN_PREFIX, type AccessToken, type AccessTokens } from './access-tokens.js';
import type { Accounts } from './accounts.js';
import type { Db } from '../db/database.js';
import { accessGeneration } from '../db/users.js';
import type { LoginThrottle } from './login-throttle.js';
import { Authorizer } from './authorizer.js';
import type { Principal } from './principal.js';
import { PullRules } from './pull-rules.js';
import type { ResourceScope } from './scope.js';
import type { TokenOrigin, TokenService } from './token-service.js';
import { BerthError, isBerthError } from '../errors/berth-error.js';
import { TokenError } from '../errors/token-error.js';
import type { SecondFactor } from './second-factor.js';
import type { Sessions } from './sessions.js';
import type { User } from './accounts.js';
import type { DirectoryAccounts } from './directory-accounts.js';
import type { Journal, RequestContext } from '../audit/journal.js';

/** A password login of an account with a second factor, which registry clients cannot answer: they use an access token. */
function accessTokenRequired(name: string): BerthError {
  return new BerthError('ACCESS_TOKEN_REQUIRED', { message: `the account ${name.slice(0, 64)} has a second factor: log in with a personal access token (berth_pat_...) as the password` });
}

export interface IssuedToken { token: string; expiresIn: number; issuedAt: string; refreshToken?: string; granted: ResourceScope[]; subject: string; source: string }

export class AuthService {
  constructor(
    private readonly db: Db, private readonly anonymousPull: boolean, readonly accounts: Accounts, readonly tokens: TokenService,
    readonly throttle: LoginThrottle, readonly accessTokens: AccessTokens, readonly sessions: Sessions, readonly secondFactor: SecondFactor,
    private readonly journal: Journal,
    private readonly usersCreateOrganizations = true,
    /** LDAP / Active Directory accounts, when configured */
    readonly directory?: DirectoryAccounts,
    private readonly pushCreatesOrganization = false,
    /** content rules on manifest pulls that features registered in the composition root */
    readonly pullRules: PullRules = PullRules.NONE,
  ) {}

  /** A locked account or address: refused before any password is checked, and on record. */
  private async checkThrottle(name: string, ctx: RequestContext): Promise<void> {
    try {
      await this.throttle.check(name, ctx.address);
    } catch (e) {
      if (isBerthError(e, 'LOGIN_LOCKED')) {
        await this.journal.record({ ...ctx, actor: name.slice(0, 256), actorSource: 'unknown' }, [{ action: 'auth.login', resource: `user:${name.slice(0, 256)}`, outcome: 'denied', detail: { reason: 'locked out', retryAfter: e.retryAfterSeconds } }]);
      }
      throw e;
    }
  }

  /**
   * A secret checked for a caller who is already signed in (the current password, a one-time code): throttled
   * and counted like a login, so that a stolen session cannot guess it. Throws LOGIN_LOCKED while locked.
   */
  async verifySecret(name: string, ctx: RequestContext, source: string, verify: () => Promise<boolean>): Promise<boolean> {
    await this.checkThrottle(name, ctx);
    if (await verify()) return true;
    const delay = await this.throttle.failed(name, ctx.address, source, `wrong ${source === 'totp' ? 'one-time code' : 'current password'}`, ctx);
    await new Promise((r) => setTimeout(r, delay));
    return false;
  }

  /** Logins by password or token, recorded once a minute per account, address and way: Basic on every request is not a record per request. */
  private readonly noted = new Map<string, number>();
  private async noteLogin(p: Principal, ctx: RequestContext, always = false): Promise<void> {
    if (p.kind !== 'user') return;
    const key = `${p.name}\u0000${ctx.address}\u0000${p.source}\u0000${p.via}`;
    const now = Date.now();
    if (!always && (this.noted.get(key) ?? 0) > now) return;
    if (this.noted.size > 10_000) this.noted.clear();
    this.noted.set(key, now + 60_000);
    await this.journal.record({ ...ctx, actor: p.name, actorSource: p.source }, [{ action: 'auth.login', resource: `user:${p.name}`, detail: { via: p.via } }]);
  }

  /** A local account first; then the directory, for names no local account owns. */
  private async verifyPassword(name: string, password: string): Promise<User | null> {
    return (await this.accounts.authenticate(name, password)) ?? (this.directory ? await this.directory.login(name, password) : null);
  }

  /** The authorization decisions for one caller (one per request: it caches what it loads). */
  authorizer(p: Principal): Authorizer {
    return new Authorizer(this.db, p, {
      anonymousPull: this.anonymousPull, usersCreateOrganizations: this.usersCreateOrganizations, pushCreatesOrganization: this.pushCreatesOrganization, pullRules: this.pullRules,
    });
  }

  /** Password login from `address`; throws LOGIN_LOCKED while the account or address is locked out. */
  async basic(name: string, password: string, ctx: RequestContext): Promise<Principal | null> {
    const address = ctx.address;
    await this.checkThrottle(name, ctx);
    const viaToken = password.startsWith(TOKEN_PREFIX);
    const p = viaToken ? await this.personalToken(name, password) : await this.password(name, password);
    if (!p) {
      // Said whether or not the password was right, so that the answer tells nothing about the password.
      const needsToken = !viaToken && Boolean((await this.accounts.byName(name))?.totp);
      const reason = viaToken ? 'invalid access token' : needsToken ? 'password login of an account with a second factor: an access token is required' : 'invalid credentials';
      const delay = await this.throttle.failed(name, address, viaToken ? 'token' : this.directory ? 'local+ldap' : 'local', reason, ctx);
      await new Promise((r) => setTimeout(r, delay));
      if (needsToken) throw accessTokenRequired(name);
      return null;
    }
    await this.throttle.succeeded(name, address);
    await this.noteLogin(p, ctx);
    return p;
  }

  /** Password-only logins (registry clients): refused for accounts with a second factor, which use access tokens. */
  private async password(name: string, password: string): Promise<Principal | null> {
    const u = await this.verifyPassword(name, password);
    return u && !u.totp ? userPrincipal(u, 'basic') : null;
  }

  /**
   * Interactive login (web UI, API session): password, then the one-time code where the account has one.
   * Throws SECOND_FACTOR_REQUIRED when the code is missing, LOGIN_LOCKED while locked out.
   */
  async login(name: string, password: string, code: string | undefined, ctx: RequestContext): Promise<Principal | null> {
    const address = ctx.address;
    await this.checkThrottle(name, ctx);
    const u = await this.verifyPassword(name, password);
    let reason = 'invalid credentials';
    if (u) {
      if (!u.totp) return this.succeeded(u, ctx);
      if (code === undefined || code === '') throw new BerthError('SECOND_FACTOR_REQUIRED');
      if (await this.secondFactor.verify(u.id, u.name, code)) return this.succeeded(u, ctx);
      reason = 'invalid one-time code';
    }
    const delay = await this.throttle.failed(name, address, u ? 'totp' : this.directory ? 'local+ldap' : 'local', reason, ctx);
    await new Promise((r) => setTimeout(r, delay));
    return null;
  }

  private async succeeded(u: User, ctx: RequestContext): Promise<Principal> {
    await this.throttle.succeeded(u.name, ctx.address);
    const p = userPrincipal(u, 'session');
    await this.noteLogin(p, ctx, true);
    return p;
  }

  /** The principal of a session cookie, when the session and its user are still good. */
  async session(secret: string): Promise<{ principal: Principal; csrfToken: string; expiresAt: number } | null> {
    const s = await this.sessions.resolve(secret);
    if (!s) return null;
    const u = await this.accounts.byId(s.userId);
    if (!u || u.disabled || s.createdAt < u.tokensValidAfter) {
      await this.sessions.destroy(secret);
      return null;
    }
    return { principal: userPrincipal(u, 'session'), csrfToken: s.csrfToken, expiresAt: s.expiresAt };
  }

  /** A personal access token, given as the password of the user it belongs to. */
  private async personalToken(name: string, secret: string): Promise<Principal | null> {
    const t = await this.accessTokens.verify(secret);
    if (!t) return null;
    const u = await this.accounts.byId(t.userId);
    if (!u || u.name !== name || u.disabled || t.createdAt < u.tokensValidAfter) return null;
    return tokenPrincipal(u, t, 'basic');
  }

  /** A personal access token sent as a bearer token (API clients): the same checks as with Basic. */
  async accessToken(secret: string, ctx: RequestContext): Promise<Principal | null> {
    const address = ctx.address;
    // Throttled per token id (and per address), so guessing one token's secret locks only that token.
    const key = `token:${/^berth_pat_([0-9a-f]{12})_/.exec(secret)?.[1] ?? 'malformed'}`;
    await this.checkThrottle(key, ctx);
    const t = await this.accessTokens.verify(secret);
    const u = t ? await this.accounts.byId(t.userId) : undefined;
    if (!t || !u || u.disabled || t.createdAt < u.tokensValidAfter) {
      const delay = await this.throttle.failed(key, address, 'token', 'invalid access token', ctx);
      await new Promise((r) => setTimeout(r, delay));
      return null;
    }
    const p = tokenPrincipal(u, t, 'token');
    await this.noteLogin(p, ctx);
    return p;
  }

  /** A bearer token's principal, with its grant; throws TokenError (TOKEN_INVALID) when it must be refused. */
  async bearer(token: string): Promise<Principal> {
    const claims = await this.tokens.verifyAccess(token);
    if (claims.subject === '') return { kind: 'anonymous' };
    const found = await this.accounts.forBearer(claims.subject);
    const u = found?.user;
    // Disabling a user or resetting their tokens takes effect on the next request, not at expiry.
    if (!found || !u || u.disabled) throw new TokenError('account disabled or removed');
    const origin = claims.origin ?? {};
    if (!stillValid(u, claims.issuedAt, origin)) throw new TokenError('revoked');
    // Minted with an access token (personal or robot): it dies when that token is revoked, expires or is replaced.
    if (origin.tokenId !== undefined && !(await this.accessTokens.active(origin.tokenId, u.id))) throw new TokenError('the access token it was obtained with is revoked or expired');
    const source = claims.authSource === 'token' || claims.authSource === 'robot' ? claims.authSource : u.source;
    return {
      kind: 'user', id: u.id, name: u.name, admin: u.admin, source, via: 'token', grant: claims.access,
      // Roles changed since it was issued (in any process: the generation is read with the user).
      ...(origin.accessGeneration !== found.accessGeneration ? { grantStale: true } : {}),
      // The limits of the access token it was minted with hold for everything it is used for (the catalog too).
      ...(origin.limit ? { limit: origin.limit } : {}), generation: u.tokensValidAfter, ...(origin.tokenId ? { tokenId: origin.tokenId } : {}),
    };
  }

  async issue(p: Principal, requested: ResourceScope[], offline: boolean): Promise<IssuedToken> {
    const az = this.authorizer(p);
    // Read before the roles: a change that commits in between leaves the token stale, never too generous.
    const ag = p.kind === 'user' ? await accessGeneration(this.db) : undefined;
    const granted = await az.grant(requested);
    const subject = p.kind === 'user' ? p.name : '';
    const source = p.kind === 'user' ? p.source : 'anonymous';
    const origin: TokenOrigin | undefined = p.kind === 'user' ? { generation: p.generation, tokenId: p.tokenId, limit: p.limit ?? undefined, accessGeneration: ag } : undefined;
    const t = await this.tokens.issueAccess(subject, granted, source, origin);
    // No refresh token for an access-token login: a refresh would not carry the token's limits (policy.ts decides).
    const refreshToken = offline && p.kind === 'user' && (await az.can({ type: 'account', name: p.name }, 'refresh')) ? await this.tokens.issueRefresh(p.name, p.source, { generation: p.generation }) : undefined;
    return { ...t, refreshToken, granted, subject, source };
  }

  /** OAuth2 refresh_token grant: a new access token for the refresh token's (still active) user. */
  async refresh(refreshToken: string, requested: ResourceScope[]): Promise<IssuedToken> {
    const r = await this.tokens.verifyRefresh(refreshToken);
    const u = await this.accounts.byName(r.subject);
    if (!u || u.disabled) throw new TokenError('account disabled or removed');
    // A refresh token obtained with a password that has since changed (in any process) is dead.
    if (!stillValid(u, r.issuedAt, r.origin)) throw new TokenError('revoked');
    return this.issue(userPrincipal(u, 'token'), requested, false);
  }
}

function userPrincipal(u: User, via: 'basic' | 'token' | 'session'): Principal {
  return { kind: 'user', id: u.id, name: u.name, admin: u.admin, source: u.source, via, generation: u.tokensValidAfter };
}

/** A user acting through an access token: limited to its scopes; a robot's token makes a robot. */
function tokenPrincipal(u: User, t: AccessToken, via: 'basic' | 'token'): Principal {
  return { kind: 'user', id: u.id, name: u.name, admin: u.admin, source: u.source === 'robot' ? 'robot' : 'token', via, limit: t.scopes, generation: u.tokensValidAfter, tokenId: t.id };
}

/** Whether a token minted for `u` may still be used: minted before a revocation or credential change, it may not. */
function stillValid(u: User, issuedAt: number, origin: TokenOrigin): boolean {
  // The generation is exact; tokens without it fall back to their issue time (whole seconds).
  return origin.generation !== undefined ? origin.generation === u.tokensValidAfter : issuedAt >= u.tokensValidAfter;
}
