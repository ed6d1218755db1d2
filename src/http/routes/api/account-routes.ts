// /api/v1 session, current user (password, second factor, access tokens) and user administration.
import type { User as AccountUser } from '../../../auth/accounts.js';
import type { AccessToken as StoredToken } from '../../../auth/access-tokens.js';
import type { Principal } from '../../../auth/principal.js';
import { SESSION_COOKIE } from '../../../auth/sessions.js';
import { BerthError } from '../../../errors/berth-error.js';
import * as C from '../../contracts/api.js';
import { requestContext } from '../../request-context.js';
import { route, type ApiContext, type ApiRoute } from './framework.js';

export const userView = (u: AccountUser) => ({
  name: u.name, admin: u.admin, disabled: u.disabled, source: u.source, totp: u.totp, email: u.email, displayName: u.displayName, createdAt: u.createdAt,
});

export const tokenView = (t: StoredToken) => ({
  id: t.id, name: t.name, scopes: t.scopes, createdAt: t.createdAt, expiresAt: t.expiresAt, lastUsedAt: t.lastUsedAt, revokedAt: t.revokedAt,
});

const self = (c: ApiContext<unknown, unknown>) => {
  if (c.principal.kind !== 'user') throw new BerthError('AUTHENTICATION_REQUIRED');
  return c.principal;
};

async function currentUser(c: ApiContext<unknown, unknown>): Promise<AccountUser> {
  const u = await c.s.auth.accounts.byId(self(c).id);
  if (!u) throw new BerthError('AUTHENTICATION_REQUIRED', { message: 'account removed' });
  return u;
}

function cookie(c: ApiContext<unknown, unknown>, value: string, maxAge: number): void {
  const secure = c.req.protocol === 'https' || c.s.config.publicUrl?.startsWith('https:') ? '; Secure' : '';
  c.reply.header('Set-Cookie', `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure}`);
}

/** What the caller may do beyond their roles, so a UI can offer it (the routes still decide). */
async function capabilities(c: ApiContext<unknown, unknown>, u: AccountUser) {
  // At login the request's own caller is still anonymous: ask as the user who just signed in.
  const az = c.principal.kind === 'user' ? c.authz : c.s.auth.authorizer({ kind: 'user', id: u.id, name: u.name, admin: u.admin, source: u.source, via: 'session' });
  return { createOrganizations: await az.can({ type: 'system', name: 'organizations' }, 'create') };
}

/** Refuses to take away the last active system administrator. */
async function keepAnAdmin(c: ApiContext<unknown, unknown>, target: AccountUser): Promise<void> {
  if (!target.admin || target.disabled) return;
  const admins = (await c.s.auth.accounts.list()).filter((u) => u.admin && !u.disabled);
  if (admins.length <= 1) throw new BerthError('CONFLICT', { message: `${target.name} is the last active administrator` });
}

/** A user's own credentials: the account resource named after the caller. */
const ownAccount = (_params: Record<string, string>, caller: Principal) => ({ resource: { type: 'account' as const, name: caller.kind === 'user' ? caller.name : '' }, action: 'manage' });

export const accountRoutes: ApiRoute<any, any>[] = [
  route({
    method: 'POST', path: '/session', tag: 'session', summary: 'Log in (password, and the one-time code for accounts with a second factor); sets the session cookie',
    body: C.LoginRequest, response: C.Session, needs: 'anyone',
    async handle(c) {
      const p = await c.s.auth.login(c.body.username, c.body.password, c.body.code, requestContext(c.req, null));
      if (!p || p.kind !== 'user') throw new BerthError('CREDENTIALS_INVALID', { message: 'invalid user name, password or code' });
      const session = await c.s.auth.sessions.create(p.id, c.req.ip, String(c.req.headers['user-agent'] ?? ''));
      cookie(c, session.secret, c.s.config.auth.session.lifetime);
      const u = await c.s.auth.accounts.byId(p.id);
      return { user: userView(u!), capabilities: await capabilities(c, u!), via: 'session', csrfToken: session.csrfToken, expiresAt: session.expiresAt };
    },
  }),
  route({
    method: 'GET', path: '/session', tag: 'session', summary: 'The current session (and its CSRF token) or other credentials in use',
    response: C.Session, needs: 'authenticated',
    async handle(c) {
      const u = await currentUser(c);
      return { user: userView(u), capabilities: await capabilities(c, u), via: c.session ? 'session' : c.principal.kind === 'user' && c.principal.via === 'token' ? 'token' : 'basic', csrfToken: c.session?.csrfToken ?? null, expiresAt: c.session?.expiresAt ?? null };
    },
  }),
  route({
    method: 'DELETE', path: '/session', tag: 'session', summary: 'Log out: ends the session and clears its cookie', needs: 'anyone',
    async handle(c) {
      if (c.session) {
        await c.s.auth.sessions.destroy(c.session.secret);
        await c.s.journal.record(c.ctx, [{ action: 'auth.logout', resource: `user:${c.ctx.actor}` }]);
      }
      cookie(c, '', 0);
    },
  }),
  route({
    method: 'GET', path: '/user', tag: 'user', summary: 'The calling user', response: C.User, needs: 'authenticated',
    async handle(c) { return userView(await currentUser(c)); },
  }),
  route({
    method: 'PUT', path: '/user/password', tag: 'user', summary: "Change one's own password (ends every session and token issued so far)",
    body: C.PasswordChange, needs: ownAccount,
    async handle(c) {
      const u = await currentUser(c);
      if (u.source !== 'local') throw new BerthError('CONFLICT', { message: `the password of a ${u.source} account is managed by its directory` });
      if (!(await c.s.auth.verifySecret(u.name, c.ctx, 'password', async () => Boolean(await c.s.auth.accounts.authenticate(u.name, c.body.currentPassword))))) {
        throw new BerthError('DENIED', { message: 'current password is wrong' });
      }
      await c.s.auth.accounts.setPassword(u.name, c.body.newPassword, c.ctx);
      await c.s.auth.sessions.destroyAll(u.id);
      cookie(c, '', 0);
    },
  }),
  route({
    method: 'POST', path: '/user/totp', tag: 'user', summary: 'Start enrolling a TOTP second factor: returns the secret and an otpauth:// URI',
    response: C.TotpEnrollment, status: 201, needs: ownAccount,
    async handle(c) {
      const u = await currentUser(c);
      if (u.source !== 'local') throw new BerthError('CONFLICT', { message: 'a second factor is for local accounts; directory accounts use their directory\'s' });
      if (u.totp) throw new BerthError('CONFLICT', { message: 'a second factor is already in force; disable it first' });
      return c.s.auth.secondFactor.begin(u.id, u.name);
    },
  }),
  route({
    method: 'POST', path: '/user/totp/confirm', tag: 'user', summary: 'Finish enrolling: a code from the authenticator app puts the second factor in force',
    body: C.TotpCode, needs: ownAccount,
    async handle(c) {
      const u = await currentUser(c);
      if (!(await c.s.auth.verifySecret(u.name, c.ctx, 'totp', () => c.s.auth.secondFactor.confirm(u.id, u.name, c.body.code, c.ctx)))) {
        throw new BerthError('INPUT_INVALID', { message: 'the code does not match; check the device clock and try the next code' });
      }
    },
  }),
  route({
    method: 'POST', path: '/user/totp/disable', tag: 'user', summary: 'Turn the second factor off (needs a current code)',
    body: C.TotpCode, needs: ownAccount,
    async handle(c) {
      const u = await currentUser(c);
      if (!u.totp) throw new BerthError('CONFLICT', { message: 'no second factor is in force' });
      if (!(await c.s.auth.verifySecret(u.name, c.ctx, 'totp', () => c.s.auth.secondFactor.verify(u.id, u.name, c.body.code)))) throw new BerthError('DENIED', { message: 'the code does not match' });
      await c.s.auth.secondFactor.disable(u.id, c.ctx);
    },
  }),
  route({
    method: 'GET', path: '/user/tokens', tag: 'user', summary: "One's personal access tokens (never their secrets)",
    response: C.Items(C.AccessToken), needs: ownAccount,
    async handle(c) { return { items: (await c.s.auth.accessTokens.list(self(c).id)).map(tokenView) }; },
  }),
  route({
    method: 'POST', path: '/user/tokens', tag: 'user', summary: 'Create a personal access token; its secret is in this response only',
    body: C.TokenCreate, response: C.CreatedToken, status: 201, needs: ownAccount,
    async handle(c) {
      const { token, secret } = await c.s.auth.accessTokens.create(self(c).id, c.body.name, {
        scopes: c.body.scopes, expiresAt: c.body.expiresInDays ? Date.now() + c.body.expiresInDays * 86_400_000 : undefined,
      }, c.ctx);
      return { token: tokenView(token), secret };
    },
  }),
  route({
    method: 'DELETE', path: '/user/tokens/:id', tag: 'user', summary: 'Revoke one of one\'s access tokens',
    needs: ownAccount,
    async handle(c) {
      const t = await c.s.auth.accessTokens.get(c.params.id);
      if (!t || t.userId !== self(c).id) throw new BerthError('NOT_FOUND', { message: `no token ${c.params.id.slice(0, 40)}` });
      await c.s.auth.accessTokens.revoke(t.id, c.ctx);
    },
  }),

  route({
    method: 'GET', path: '/users', tag: 'users', summary: 'Users (system administrators)', query: C.PageQuery,
    response: C.Page(C.User), needs: () => ({ resource: { type: 'system', name: 'users' }, action: 'read' }),
    async handle(c) {
      const n = c.query.n ?? 100;
      const all = (await c.s.auth.accounts.list()).filter((u) => u.source !== 'robot' && (!c.query.q || u.name.includes(c.query.q)) && (c.query.last === undefined || u.name > c.query.last));
      const items = all.slice(0, n);
      return { items: items.map(userView), next: all.length > n ? items[items.length - 1].name : null };
    },
  }),
  route({
    method: 'POST', path: '/users', tag: 'users', summary: 'Create a local user', body: C.UserCreate, response: C.User, status: 201,
    needs: () => ({ resource: { type: 'system', name: 'users' }, action: 'write' }),
    async handle(c) { return userView(await c.s.auth.accounts.create(c.body.name, c.body.password, { admin: c.body.admin }, c.ctx)); },
  }),
  route({
    method: 'GET', path: '/users/:user', tag: 'users', summary: 'One user', response: C.User,
    needs: () => ({ resource: { type: 'system', name: 'users' }, action: 'read' }),
    async handle(c) {
      const u = await c.s.auth.accounts.byName(c.params.user);
      if (!u || u.source === 'robot') throw new BerthError('NOT_FOUND', { message: `no user ${c.params.user.slice(0, 64)}` });
      return userView(u);
    },
  }),
  route({
    method: 'PATCH', path: '/users/:user', tag: 'users', summary: 'Make or unmake administrator, disable (revokes every session and token) or enable, set a password',
    body: C.UserUpdate, response: C.User, needs: () => ({ resource: { type: 'system', name: 'users' }, action: 'write' }),
    async handle(c) {
      const a = c.s.auth.accounts;
      const u = await a.byName(c.params.user);
      if (!u || u.source === 'robot') throw new BerthError('NOT_FOUND', { message: `no user ${c.params.user.slice(0, 64)}` });
      if (c.body.admin === false || c.body.disabled === true) await keepAnAdmin(c, u);
      if (c.body.password !== undefined) await a.setPassword(u.name, c.body.password, c.ctx);
      if (c.body.admin !== undefined) await a.setAdmin(u.name, c.body.admin, c.ctx);
      if (c.body.disabled !== undefined) {
        await a.setDisabled(u.name, c.body.disabled, c.ctx);
        if (c.body.disabled) await c.s.auth.sessions.destroyAll(u.id);
      }
      return userView((await a.byName(u.name))!);
    },
  }),
  route({
    method: 'DELETE', path: '/users/:user', tag: 'users',
    summary: "Remove a user with their tokens, sessions and roles. Their repositories: refused while any remain (default), `repositories=transfer&transferTo=USER` makes the namespace an organization owned by USER, `repositories=delete` deletes them",
    query: C.UserDeleteQuery, needs: () => ({ resource: { type: 'system', name: 'users' }, action: 'write' }),
    async handle(c) {
      const u = await c.s.auth.accounts.byName(c.params.user);
      if (!u || u.source === 'robot') throw new BerthError('NOT_FOUND', { message: `no user ${c.params.user.slice(0, 64)}` });
      await keepAnAdmin(c, u);
      await c.s.auth.accounts.remove(u.name, c.ctx, { repositories: c.query.repositories, transferTo: c.query.transferTo });
    },
  }),
  route({
    method: 'POST', path: '/users/:user/unlock', tag: 'users', summary: 'Lift the login lockout of a user (from every address)',
    needs: () => ({ resource: { type: 'system', name: 'users' }, action: 'write' }),
    async handle(c) {
      const u = await c.s.auth.accounts.byName(c.params.user);
      if (!u) throw new BerthError('NOT_FOUND', { message: `no user ${c.params.user.slice(0, 64)}` });
      await c.s.auth.throttle.unlock(u.name, c.ctx);
    },
  }),
  route({
    method: 'DELETE', path: '/users/:user/totp', tag: 'users', summary: "Reset a user's second factor (a lost device)",
    needs: () => ({ resource: { type: 'system', name: 'users' }, action: 'write' }),
    async handle(c) {
      const u = await c.s.auth.accounts.byName(c.params.user);
      if (!u || u.source === 'robot') throw new BerthError('NOT_FOUND', { message: `no user ${c.params.user.slice(0, 64)}` });
      await c.s.auth.secondFactor.disable(u.id, c.ctx);
    },
  }),
];
