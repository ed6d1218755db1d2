// Reading credentials off a request and answering with Docker's challenge (spec/auth/token.md).
import type { FastifyRequest } from 'fastify';
import { requestContext } from './request-context.js';
import type { Principal } from '../auth/principal.js';
import { ANONYMOUS } from '../auth/principal.js';
import type { ResourceScope } from '../auth/scope.js';
import { DirectoryError } from '../auth/ldap/ldap-directory.js';
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

/** The caller on /v2: a bearer token, Basic credentials where allowed, or nobody. */
export async function identify(req: FastifyRequest, s: Services): Promise<Principal> {
  const header = req.headers.authorization;
  if (!header) return ANONYMOUS;
  if (/^bearer\s/i.test(header)) {
    try {
      return await s.auth.bearer(header.slice(7).trim());
    } catch (e) {
      if (e instanceof TokenError) throw challenge(req, s, undefined, 'invalid_token', `token refused: ${e.reason}`, 'TOKEN_INVALID');
      throw e;
    }
  }
  const basic = basicCredentials(header);
  if (basic && s.config.auth.basicOnRegistry) {
    const p = await passwordLogin(s, basic.name, basic.password, req);
    if (!p) throw challenge(req, s, undefined, undefined, 'invalid credentials', 'CREDENTIALS_INVALID');
    return p;
  }
  throw challenge(req, s, undefined, undefined, 'unsupported authorization scheme', 'AUTH_SCHEME_UNSUPPORTED');
}
