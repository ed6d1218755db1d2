// The token endpoint of Docker's token authentication (spec/auth/token.md, oauth.md):
// GET /token with Basic credentials or anonymously; POST /token with OAuth2 password and refresh_token grants.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../../../auth/principal.js';
import { ANONYMOUS } from '../../../auth/principal.js';
import { parseScopes } from '../../../auth/scope.js';
import { BerthError } from '../../../errors/berth-error.js';
import type { ErrorCode } from '../../../errors/catalogue.js';
import { TokenError } from '../../../errors/token-error.js';
import { BodyTooLargeError, readLimited } from '../../../lib/read-limited.js';
import { basicCredentials, passwordLogin } from '../../authenticate.js';
import type { Services } from '../../services.js';
import { requestContext } from '../../request-context.js';
import type { IssuedToken } from '../../../auth/auth-service.js';

/** A 401 of the token endpoint itself: no challenge, this is where the challenge leads. */
function unauthorized(code: ErrorCode, message: string): BerthError {
  return new BerthError(code, { message });
}

function checkService(s: Services, service: string | null): void {
  if (service !== null && service !== s.config.auth.service) {
    throw new BerthError('SERVICE_UNKNOWN', { message: `unknown service "${service.slice(0, 100)}"; this registry is "${s.config.auth.service}"` });
  }
}

/** Tokens issued to accounts are on record (anonymous ones, one per anonymous pull, are not). */
async function recordIssue(s: Services, req: FastifyRequest, issued: IssuedToken, grant: string): Promise<void> {
  if (!issued.subject) return;
  await s.journal.record({ ...requestContext(req, null), actor: issued.subject, actorSource: issued.source }, [{
    action: 'token.issue', resource: `user:${issued.subject}`,
    detail: { grant, scopes: issued.granted.map((g) => `${g.type}:${g.name}:${g.actions.join(',')}`), refresh: Boolean(issued.refreshToken) },
  }]);
}

export async function tokenRoutes(app: FastifyInstance, s: Services): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));

  app.get('/token', async (req: FastifyRequest, reply: FastifyReply) => {
    const q = new URLSearchParams((req.raw.url ?? '').split('?')[1] ?? '');
    checkService(s, q.get('service'));
    let principal: Principal = ANONYMOUS;
    const header = req.headers.authorization;
    if (header) {
      const basic = basicCredentials(header);
      if (!basic) throw unauthorized('AUTH_SCHEME_UNSUPPORTED', 'use Basic credentials to obtain a token');
      const p = await passwordLogin(s, basic.name, basic.password, req);
      if (!p) throw unauthorized('CREDENTIALS_INVALID', 'invalid credentials');
      principal = p;
    }
    const issued = await s.auth.issue(principal, parseScopes(q.getAll('scope')), q.get('offline_token') === 'true');
    await recordIssue(s, req, issued, 'basic');
    reply.header('Cache-Control', 'no-store');
    return {
      token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt,
      ...(issued.refreshToken ? { refresh_token: issued.refreshToken } : {}),
    };
  });

  // Public keys that verify Berth's tokens, for services that check them themselves.
  app.get('/token/jwks', async (_req, reply) => {
    reply.header('Cache-Control', 'max-age=60');
    return s.auth.tokens.jwks();
  });

  app.post('/token', async (req: FastifyRequest, reply: FastifyReply) => {
    let body: Buffer;
    try {
      body = await readLimited(req.raw, 64 * 1024);
    } catch (e) {
      if (e instanceof BodyTooLargeError) throw new BerthError('PAYLOAD_TOO_LARGE', { message: 'token request too large' });
      throw e;
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') throw new BerthError('UNSUPPORTED_MEDIA_TYPE', { message: 'POST /token takes application/x-www-form-urlencoded' });
    const f = new URLSearchParams(body.toString('utf8'));
    checkService(s, f.get('service'));
    const scopes = parseScopes(f.getAll('scope').flatMap((v) => v.split(' ')));
    const grant = f.get('grant_type');
    let issued;
    if (grant === 'password') {
      const p = await passwordLogin(s, f.get('username') ?? '', f.get('password') ?? '', req);
      if (!p) throw unauthorized('CREDENTIALS_INVALID', 'invalid credentials');
      issued = await s.auth.issue(p, scopes, f.get('access_type') === 'offline');
    } else if (grant === 'refresh_token') {
      try {
        issued = await s.auth.refresh(f.get('refresh_token') ?? '', scopes);
      } catch (e) {
        if (e instanceof TokenError) throw unauthorized('TOKEN_INVALID', `refresh token refused: ${e.reason}`);
        throw e;
      }
    } else {
      throw new BerthError('INPUT_INVALID', { message: 'grant_type must be password or refresh_token', field: 'grant_type' });
    }
    await recordIssue(s, req, issued, grant);
    reply.header('Cache-Control', 'no-store');
    return {
      access_token: issued.token, token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt,
      scope: issued.granted.map((g) => `${g.type}:${g.name}:${g.actions.join(',')}`).join(' '),
      ...(issued.refreshToken ? { refresh_token: issued.refreshToken } : {}),
    };
  });
}
