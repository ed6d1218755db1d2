// Who did what from where, for the journal: built once per request from the caller and the request.
import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../audit/journal.js';
import type { Principal } from '../auth/principal.js';

export function requestContext(req: FastifyRequest, p: Principal | null): RequestContext {
  const ua = req.headers['user-agent'];
  return {
    actor: p?.kind === 'user' ? p.name : '',
    actorSource: p?.kind === 'user' ? p.source : 'anonymous',
    // req.ip honours http.trustProxy: X-Forwarded-For only from the proxies configured there.
    address: req.ip,
    userAgent: typeof ua === 'string' ? ua : '',
    requestId: String(req.id),
    host: typeof req.headers.host === 'string' ? req.headers.host : '',
    method: req.method,
  };
}
