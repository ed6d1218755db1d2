// The management API's plumbing: every route declares its inputs, its response and the resource and
// action it needs; one wrapper authenticates (http/authenticate.ts, the step /v2 shares: session cookie +
// CSRF, bearer access token, or Basic), validates, asks the policy, and answers errors in the API's one shape. The OpenAPI document is
// generated from the same declarations, so it cannot drift from the code.
import { infrastructureError } from '../../../errors/infrastructure.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Authorizer } from '../../../auth/authorizer.js';
import type { Resource } from '../../../auth/policy.js';
import type { Principal } from '../../../auth/principal.js';
import { DirectoryError } from '../../../auth/ldap/ldap-directory.js';
import { SESSION_COOKIE } from '../../../auth/sessions.js';
import { BerthError, isBerthError } from '../../../errors/berth-error.js';
import { authenticate, directoryUnavailable, type Accepts, type AuthFailure } from '../../authenticate.js';
import { apiError } from '../../errors/api-errors.js';
import { requestContext } from '../../request-context.js';
import type { RequestContext } from '../../../audit/journal.js';
import { ApiErrorBody } from '../../contracts/api.js';
import type { Services } from '../../services.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type Needs = 'anyone' | 'authenticated' | ((params: Record<string, string>, caller: Principal) => { resource: Resource; action: string });

export interface ApiContext<B, Q> {
  req: FastifyRequest;
  reply: FastifyReply;
  s: Services;
  principal: Principal;
  authz: Authorizer;
  params: Record<string, string>;
  body: B;
  query: Q;
  session: { secret: string; csrfToken: string; expiresAt: number } | null;
  /** who is asking, for the audit records of what the route changes */
  ctx: RequestContext;
}

export interface ApiRoute<B = unknown, Q = unknown> {
  method: Method;
  /** below /api/v1, with :params */
  path: string;
  summary: string;
  tag: string;
  body?: z.ZodType<B>;
  query?: z.ZodType<Q>;
  response?: z.ZodType;
  /** success status; 204 when the route answers nothing */
  status?: number;
  /** media types of a streamed (non-JSON) answer, for the OpenAPI document */
  produces?: string[];
  needs: Needs;
  handle(c: ApiContext<B, Q>): Promise<unknown>;
}

export const route = <B = undefined, Q = undefined>(r: ApiRoute<B, Q>): ApiRoute<B, Q> => r;

/** The API takes access tokens (not registry tokens) as Bearer, Basic, and the UI's session cookie. */
const API_ACCEPTS: Accepts = { bearer: 'access-token', basic: true, session: true };

async function identify(req: FastifyRequest, s: Services): Promise<{ principal: Principal; session: ApiContext<unknown, unknown>['session'] }> {
  const a = await authenticate(req, s, API_ACCEPTS);
  if (a.ok) return { principal: a.principal, session: a.session };
  throw apiFailure(a.failure);
}

/** The API's answer to refused credentials: its own error shape, no challenge. */
function apiFailure(f: AuthFailure): BerthError {
  switch (f.kind) {
    case 'token-invalid': return new BerthError('TOKEN_INVALID', { message: 'invalid bearer token: use a Berth access token (berth_pat_...)' });
    case 'credentials-invalid': return new BerthError('CREDENTIALS_INVALID', { message: 'invalid credentials (accounts with a second factor use an access token)' });
    case 'access-token-required': return f.error;
    case 'scheme-unsupported': return new BerthError('AUTH_SCHEME_UNSUPPORTED', { message: 'unsupported authorization scheme: use a session, Bearer or Basic' });
    case 'csrf-failed': return new BerthError('CSRF_FAILED');
  }
}

function invalid(where: string, error: z.ZodError): BerthError {
  return new BerthError('INPUT_INVALID', {
    message: `invalid ${where}: ${error.issues.map((i) => `${i.path.join('.') || where}: ${i.message}`).join('; ')}`,
    detail: error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
  });
}

/** Any error as a catalogue error: ours as they are, the directory's and the framework's translated. */
export function toBerthError(err: unknown, req: FastifyRequest): BerthError {
  if (isBerthError(err)) return err;
  if (err instanceof DirectoryError) return directoryUnavailable(err, req);
  const e = err as Error & { statusCode?: number; code?: string };
  if (e.statusCode === 413) return new BerthError('PAYLOAD_TOO_LARGE');
  if (e.statusCode === 415) return new BerthError('UNSUPPORTED_MEDIA_TYPE', { message: 'send request bodies as application/json' });
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return new BerthError('REQUEST_MALFORMED', { message: e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'empty JSON body' : `malformed request: ${e.message}` });
  const infra = infrastructureError(err);
  if (infra) {
    req.log.error({ err: { message: e.message, code: e.code } }, infra.message);
    return infra;
  }
  req.log.error({ err }, 'unhandled API error');
  return new BerthError('INTERNAL');
}

export async function registerApi(app: FastifyInstance, s: Services, routes: ApiRoute<any, any>[]): Promise<void> {
  // JSON only: a form or text/plain POST (which a foreign page can send without CORS) is refused outright.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(async (error, req, reply) => {
    const a = apiError(toBerthError(error, req), { requestId: req.id });
    return reply.code(a.status).headers(a.headers).header('Cache-Control', 'no-store').type('application/json').send(JSON.stringify(a.body));
  });
  app.setNotFoundHandler(async (req, reply) => {
    const a = apiError(new BerthError('ENDPOINT_NOT_FOUND', { message: `no API route ${req.method} ${req.url.split('?')[0].slice(0, 200)}` }), { requestId: req.id });
    return reply.code(a.status).headers(a.headers).type('application/json').send(JSON.stringify(a.body));
  });

  for (const r of routes) {
    app.route({
      method: r.method,
      url: r.path,
      bodyLimit: 64 * 1024,
      handler: async (req, reply) => {
        reply.header('Cache-Control', 'no-store');
        const { principal, session } = await identify(req, s);
        const authz = s.auth.authorizer(principal);
        const params = req.params as Record<string, string>;
        if (r.needs === 'authenticated' && principal.kind === 'anonymous') throw new BerthError('AUTHENTICATION_REQUIRED');
        if (typeof r.needs === 'function') {
          const { resource, action } = r.needs(params, principal);
          if (!(await authz.can(resource, action))) {
            if (principal.kind === 'user') {
              await s.journal.record(requestContext(req, principal), [{ action: 'access.denied', resource: `${resource.type}:${resource.name}`, outcome: 'denied', detail: { action, route: `${r.method} ${r.path}` } }]);
            }
            throw principal.kind === 'anonymous' ? new BerthError('AUTHENTICATION_REQUIRED') : new BerthError('DENIED', { message: `not allowed to ${action} ${resource.type} ${resource.name}` });
          }
        }
        let query: unknown;
        if (r.query) {
          const q = r.query.safeParse(req.query ?? {});
          if (!q.success) throw invalid('query', q.error);
          query = q.data;
        }
        let body: unknown;
        if (r.body) {
          const b = r.body.safeParse(req.body);
          if (!b.success) throw invalid('body', b.error);
          body = b.data;
        }
        const result = await r.handle({ req, reply, s, principal, authz, params, body, query, session, ctx: requestContext(req, principal) });
        if (reply.sent) return reply;
        if (result === undefined) return reply.code(r.status ?? 204).send();
        return reply.code(r.status ?? 200).type('application/json').send(JSON.stringify(result));
      },
    });
  }
}

/** OpenAPI 3.1 from the route declarations (JSON Schema 2020-12 is OpenAPI 3.1's schema language). */
export function openApiDocument(routes: ApiRoute<any, any>[], version: string): Record<string, unknown> {
  const components: Record<string, unknown> = {};
  const schema = (t: z.ZodType, io: 'input' | 'output') => {
    const json = z.toJSONSchema(t, { target: 'draft-2020-12', unrepresentable: 'any', io }) as Record<string, unknown>;
    const defs = (json.$defs ?? {}) as Record<string, unknown>;
    delete json.$defs;
    delete json.$schema;
    for (const [k, v] of Object.entries(defs)) components[k] = v;
    return JSON.parse(JSON.stringify(json).replaceAll('"#/$defs/', '"#/components/schemas/'));
  };
  const errorRef = { $ref: '#/components/schemas/Error' };
  // ApiErrorBody has the id Error: converting it files it under components.Error and answers a $ref to
  // itself, which must not overwrite it.
  const error = schema(ApiErrorBody, 'output') as Record<string, unknown>;
  if (!('$ref' in error)) components.Error = error;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const p = `/api/v1${r.path.replace(/:([A-Za-z]+)/g, '{$1}')}`;
    const parameters: unknown[] = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({
      name: m[1], in: 'path', required: true, schema: { type: 'string' },
      ...(m[1] === 'name' && r.path.startsWith('/repositories') ? { description: 'repository name with each / written as %2F' } : {}),
    }));
    if (r.query) {
      const q = schema(r.query, 'input') as { properties?: Record<string, { description?: string }>; required?: string[] };
      for (const [name, sch] of Object.entries(q.properties ?? {})) parameters.push({ name, in: 'query', required: q.required?.includes(name) ?? false, schema: sch, description: sch.description });
    }
    const ok = r.status ?? (r.response || r.produces ? 200 : 204);
    paths[p] ??= {};
    paths[p][r.method.toLowerCase()] = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method.toLowerCase()}${r.path.replace(/[:/](\w)/g, (_m, c: string) => c.toUpperCase()).replace(/[^A-Za-z]/g, '')}`,
      ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: schema(r.body, 'input') } } } } : {}),
      ...(r.needs === 'anyone' ? { security: [{}, { session: [] }, { bearer: [] }, { basic: [] }] } : {}),
      'x-berth-authorization': typeof r.needs === 'function' ? describeNeeds(r) : r.needs,
      responses: {
        [ok]: r.response ? { description: 'success', content: { 'application/json': { schema: schema(r.response, 'output') } } }
          : r.produces ? { description: 'success (streamed)', content: Object.fromEntries(r.produces.map((t) => [t, { schema: { type: 'string' } }])) }
          : { description: 'success, no content' },
        default: { description: 'error', content: { 'application/json': { schema: errorRef } } },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Berth management API', version, description: 'Users, organizations, teams, roles, robots, access tokens and repository settings. Errors always have the shape of the Error schema.' },
    servers: [{ url: '/' }],
    security: [{ session: [] }, { bearer: [] }, { basic: [] }],
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: 'from POST /api/v1/session; state-changing requests also send X-CSRF-Token' },
        bearer: { type: 'http', scheme: 'bearer', description: 'a personal access token (berth_pat_...)' },
        basic: { type: 'http', scheme: 'basic', description: 'user name and password (not for accounts with a second factor) or access token' },
      },
    },
  };
}

function describeNeeds(r: ApiRoute<any, any>): string {
  // Valid placeholder values (a needs function may check them), put back as {param} afterwards.
  const sample: Record<string, string> = {};
  const names = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]);
  names.forEach((n, i) => { sample[n] = `p${i}placeholder`; });
  const { resource, action } = (r.needs as Exclude<Needs, string>)(sample, { kind: 'user', id: 0, name: 'callerplaceholder', admin: false, source: 'local', via: 'session' });
  let text = `${action} on ${resource.type} ${resource.name}`.replace('callerplaceholder', '{caller}');
  names.forEach((n, i) => { text = text.replace(`p${i}placeholder`, `{${n}}`); });
  return text;
}
