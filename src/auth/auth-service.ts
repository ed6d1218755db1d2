// Who is calling, and what a token may grant: local accounts and bearer tokens, decided by policy.ts.
import type { Accounts } from './accounts.js';
import type { LoginThrottle } from './login-throttle.js';
import { grant } from './policy.js';
import type { Principal } from './principal.js';
import type { ResourceScope } from './scope.js';
import { TokenError, type TokenService } from './token-service.js';

export interface IssuedToken { token: string; expiresIn: number; issuedAt: string; refreshToken?: string; granted: ResourceScope[] }

export class AuthService {
  constructor(readonly accounts: Accounts, readonly tokens: TokenService, private readonly throttle: LoginThrottle) {}

  /** Password login from `address`; throws LoginLocked while the account or address is locked out. */
  async basic(name: string, password: string, address: string): Promise<Principal | null> {
    await this.throttle.check(name, address);
    const u = await this.accounts.authenticate(name, password);
    if (!u) {
      const delay = await this.throttle.failed(name, address, 'local', 'invalid credentials');
      await new Promise((r) => setTimeout(r, delay));
      return null;
    }
    await this.throttle.succeeded(name);
    return { kind: 'user', id: u.id, name: u.name, admin: u.admin, source: u.source, via: 'basic' };
  }

  /** A bearer token's principal, with its grant; throws TokenError when it must be refused. */
  async bearer(token: string): Promise<Principal> {
    const claims = await this.tokens.verifyAccess(token);
    if (claims.subject === '') return { kind: 'anonymous' };
    const u = await this.accounts.byName(claims.subject);
    // Disabling a user or resetting their tokens takes effect on the next request, not at expiry.
    if (!u || u.disabled) throw new TokenError('account disabled or removed');
    if (claims.issuedAt < u.tokensValidAfter) throw new TokenError('revoked');
    return { kind: 'user', id: u.id, name: u.name, admin: u.admin, source: u.source, via: 'token', grant: claims.access };
  }

  async issue(p: Principal, requested: ResourceScope[], offline: boolean): Promise<IssuedToken> {
    const granted = grant(p, requested);
    const subject = p.kind === 'user' ? p.name : '';
    const source = p.kind === 'user' ? p.source : 'anonymous';
    const t = await this.tokens.issueAccess(subject, granted, source);
    const refreshToken = offline && p.kind === 'user' ? await this.tokens.issueRefresh(p.name, p.source) : undefined;
    return { ...t, refreshToken, granted };
  }

  /** OAuth2 refresh_token grant: a new access token for the refresh token's (still active) user. */
  async refresh(refreshToken: string, requested: ResourceScope[]): Promise<IssuedToken> {
    const r = await this.tokens.verifyRefresh(refreshToken);
    const u = await this.accounts.byName(r.subject);
    if (!u || u.disabled) throw new TokenError('account disabled or removed');
    if (r.issuedAt < u.tokensValidAfter) throw new TokenError('revoked');
    return this.issue({ kind: 'user', id: u.id, name: u.name, admin: u.admin, source: u.source, via: 'token' }, requested, false);
  }
}
