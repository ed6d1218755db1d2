// Reading credentials off a request and answering with Docker's challenge (spec/auth/token.md).
import type { FastifyRequest } from 'fastify';
import { requestContext } from './request-context.js';
import type { Principal } from '../auth/principal.js';
import { ANONYMOUS } from '../auth/principal.js';
import type { ResourceScope } from '../auth/scope.js';
import { formatScope } from '../auth/scope.js';
import { TokenError } from '../auth/token-service.js';
import { LoginLocked } from '../auth/login-throttle.js';
import { AccessTokenRequired } from '../auth/auth-service.js';
import { DirectoryError } from '../auth/ldap/ldap-directory.js';
import { RegistryError } from '../errors/registry-error.js';
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

/** 401 with the challenge that tells a client where to get a token for `scope` (several: space-separated, as Distribution does). */
export function challenge(req: FastifyRequest, s: Services, scope?: ResourceScope | ResourceScope[], error?: string, message?: string): RegistryError {
  const scopes = scope === undefined ? [] : Array.isArray(scope) ? scope : [scope];
  const parts = [`realm="${realm(req, s)}"`, `service="${s.config.auth.service}"`];
  if (scopes.length) parts.push(`scope="${scopes.map(formatScope).join(' ')}"`);
  if (error) parts.push(`error="${error}"`);
  return new RegistryError('UNAUTHORIZED', {
    message: message ?? 'authentication required',
    detail: scopes.length ? scopes.map((sc) => ({ Type: sc.type, Name: sc.name, Action: sc.actions.join(',') })) : undefined,
    headers: { 'WWW-Authenticate': `Bearer ${parts.join(',')}` },
  });
}

/** A password login, with lockouts answered as 429 TOOMANYREQUESTS and Retry-After. */
export async function passwordLogin(s: Services, name: string, password: string, req: FastifyRequest): Promise<Principal | null> {
  const log = req.log;
  try {
    return await s.auth.basic(name, password, requestContext(req, null));
  } catch (e) {
    if (e instanceof LoginLocked) {
      throw new RegistryError('TOOMANYREQUESTS', { message: e.message, detail: { retryAfter: e.retryAfterSeconds }, headers: { 'Retry-After': String(e.retryAfterSeconds) } });
    }
    if (e instanceof AccessTokenRequired) throw challenge(req, s, undefined, undefined, e.message);
    // The directory is down or misconfigured: not the client's fault, and no password failure.
    if (e instanceof DirectoryError) {
      log?.error({ err: { message: e.message, code: e.code } }, 'user directory unavailable');
      throw new RegistryError('UNAVAILABLE', { message: 'the user directory cannot be reached; try again later', headers: { 'Retry-After': '30' } });
    }
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
      if (e instanceof TokenError) throw challenge(req, s, undefined, 'invalid_token', `token refused: ${e.reason}`);
      throw e;
    }
  }
  const basic = basicCredentials(header);
  if (basic && s.config.auth.basicOnRegistry) {
    const p = await passwordLogin(s, basic.name, basic.password, req);
    if (!p) throw challenge(req, s, undefined, undefined, 'invalid credentials');
    return p;
  }
  throw challenge(req, s, undefined, undefined, 'unsupported authorization scheme');
}
