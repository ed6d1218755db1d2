// Reading credentials off a request and answering with Docker's challenge (spec/auth/token.md).
import type { FastifyRequest } from 'fastify';
import { requestContext } from './request-context.js';
import type { Principal } from '../auth/principal.js';
import { ANONYMOUS } from '../auth/principal.js';
import type { ResourceScope } from '../auth/scope.js';
import { DirectoryError } from '../auth/ldap/ldap-directory.js';
import { sameSecret, SESSION_COOKIE } from '../auth/sessions.js';
import { BerthError, isBerthError } from '../errors/berth-error.js';
import type { ErrorCode } from '../errors/catalogue.js';
import { TokenError } from '../errors/token-error.js';
import type { Services } from './services.js';

export function basicCredentials(header: string | undefined): { name: string; password: string } | null {
  if (!header || !/^basic\s/i.test(header)) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i <= 0) return null;
  return { name: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

function realm(req: FastifyRequest, s: Services): string {
  const base = s.config.publicUrl?.replace(/\/+$/, '') ?? `${req.protocol}://${req.headers.host ?? 'localhost'}`;
  return `${base}/token`;
}

/**
 * A 401 that tells a client where to get a token for `scope` (several: space-separated, as Distribution
 * does); the /v2 serializer writes it as WWW-Authenticate.
 */
export function challenge(req: FastifyRequest, s: Services, scope?: ResourceScope | ResourceScope[], error?: string, message?: string,
  code: ErrorCode = 'AUTHENTICATION_REQUIRED'): BerthError {
  const scopes = scope === undefined ? [] : Array.isArray(scope) ? scope : [scope];
  return new BerthError(code, {
    message: message ?? 'authentication required',
    detail: scopes.length ? scopes.map((sc) => ({ Type: sc.type, Name: sc.name, Action: sc.actions.join(',') })) : undefined,
    challenge: { realm: realm(req, s), service: s.config.auth.service, scopes: scopes.map((sc) => ({ type: sc.type, name: sc.name, actions: sc.actions })), ...(error ? { error } : {}) },
  });
}

/** The directory is down or misconfigured: logged here, answered as DIRECTORY_UNAVAILABLE. */
export function directoryUnavailable(e: DirectoryError, req: FastifyRequest): BerthError {
  req.log?.error({ err: { message: e.message, code: e.code } }, 'user directory unavailable');
  return new BerthError('DIRECTORY_UNAVAILABLE', { retryAfterSeconds: 30, cause: e });
}

/** A password login; lockouts (LOGIN_LOCKED) carry how long to wait. */
export async function passwordLogin(s: Services, name: string, password: string, req: FastifyRequest): Promise<Principal | null> {
  try {
    return await s.auth.basic(name, password, requestContext(req, null));
  } catch (e) {
    if (isBerthError(e, 'ACCESS_TOKEN_REQUIRED')) throw challenge(req, s, undefined, undefined, e.message, 'ACCESS_TOKEN_REQUIRED');
    // Not the client's fault, and no password failure.
    if (e instanceof DirectoryError) throw directoryUnavailable(e, req);
    throw e;
  }
}

/** What a surface takes as credentials. */
export interface Accepts {
  /** what a Bearer header carries: a registry token (a JWT from /token) or a Berth access token (berth_pat_...) */
  bearer: 'registry-token' | 'access-token';
  /** Basic credentials (a password, or an access token as the password) */
  basic: boolean;
  /** the UI's session cookie, with the CSRF header on state-changing requests */
  session: boolean;
}

export type AuthFailure =
  | { kind: 'token-invalid'; reason: string }
  | { kind: 'credentials-invalid' }
  | { kind: 'access-token-required'; error: BerthError }
  | { kind: 'scheme-unsupported' }
  | { kind: 'csrf-failed' };

export interface SessionInfo { secret: string; csrfToken: string; expiresAt: number }

/** The caller, or why the credentials were refused: each surface answers a failure its own way. */
export type Authentication = { ok: true; principal: Principal; session: SessionInfo | null } | { ok: false; failure: AuthFailure };

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const PAT = /^berth_pat_/;

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

const fail = (failure: AuthFailure): Authentication => ({ ok: false, failure });
const caller = (principal: Principal, session: SessionInfo | null = null): Authentication => ({ ok: true, principal, session });

/**
 * The one authentication step of every surface: a request's credentials as a principal (anonymous when
 * there are none), or the failure. A directory that is down is thrown (DIRECTORY_UNAVAILABLE), on every surface alike.
 */
export async function authenticate(req: FastifyRequest, s: Services, accepts: Accepts): Promise<Authentication> {
  const header = req.headers.authorization;
  if (header) {
    if (/^bearer\s/i.test(header)) {
      const secret = header.slice(7).trim();
      if (accepts.bearer === 'access-token') {
        const p = PAT.test(secret) ? await s.auth.accessToken(secret, requestContext(req, null)) : null;
        return p ? caller(p) : fail({ kind: 'token-invalid', reason: 'not a valid access token' });
      }
      try {
        return caller(await s.auth.bearer(secret));
      } catch (e) {
        if (e instanceof TokenError) return fail({ kind: 'token-invalid', reason: e.reason });
        throw e;
      }
    }
    const basic = accepts.basic ? basicCredentials(header) : null;
    if (!basic) return fail({ kind: 'scheme-unsupported' });
    let p: Principal | null;
    try {
      p = await s.auth.basic(basic.name, basic.password, requestContext(req, null));
    } catch (e) {
      if (isBerthError(e, 'ACCESS_TOKEN_REQUIRED')) return fail({ kind: 'access-token-required', error: e });
      // Not the client's fault, and no password failure.
      if (e instanceof DirectoryError) throw directoryUnavailable(e, req);
      throw e;
    }
    return p ? caller(p) : fail({ kind: 'credentials-invalid' });
  }
  const cookie = accepts.session ? readCookie(req.headers.cookie, SESSION_COOKIE) : undefined;
  if (cookie) {
    const found = await s.auth.session(cookie);
    // An expired session is anonymous, not an error: the UI then shows the login page.
    if (found) {
      // A cookie rides along on cross-site requests; the token in a header only comes from our own pages.
      if (UNSAFE.has(req.method)) {
        const given = req.headers['x-csrf-token'];
        if (typeof given !== 'string' || !sameSecret(given, found.csrfToken)) return fail({ kind: 'csrf-failed' });
      }
      return caller(found.principal, { secret: cookie, csrfToken: found.csrfToken, expiresAt: found.expiresAt });
    }
  }
  return caller(ANONYMOUS);
}

/** The caller on /v2: a bearer token, Basic credentials where allowed, or nobody; a failure is a challenge. */
export async function identify(req: FastifyRequest, s: Services): Promise<Principal> {
  const a = await authenticate(req, s, { bearer: 'registry-token', basic: s.config.auth.basicOnRegistry, session: false });
  if (a.ok) return a.principal;
  throw registryChallenge(req, s, a.failure);
}

/** A /v2 (and /token) answer to refused credentials: Docker's challenge. */
function registryChallenge(req: FastifyRequest, s: Services, f: AuthFailure): BerthError {
  switch (f.kind) {
    case 'token-invalid': return challenge(req, s, undefined, 'invalid_token', `token refused: ${f.reason}`, 'TOKEN_INVALID');
    case 'credentials-invalid': return challenge(req, s, undefined, undefined, 'invalid credentials', 'CREDENTIALS_INVALID');
    case 'access-token-required': return challenge(req, s, undefined, undefined, f.error.message, 'ACCESS_TOKEN_REQUIRED');
    // No session on /v2: a CSRF failure cannot happen there.
    case 'scheme-unsupported': case 'csrf-failed': return challenge(req, s, undefined, undefined, 'unsupported authorization scheme', 'AUTH_SCHEME_UNSUPPORTED');
  }
}
