// /v2/ — the OCI Distribution API. Each handler: parse -> (authorize) -> one service call -> respond.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError, isBerthError } from '../../../errors/berth-error.js';
import { BodyTooLargeError, readLimited } from '../../../lib/read-limited.js';
import { parseDigest, type ParsedDigest } from '../../../oci/digest.js';
import { MediaType } from '../../../oci/media-types.js';
import { isValidName, isValidTag, namespaceOf } from '../../../oci/reference.js';
import { parseReference, type Reference } from '../../../registry/manifest-service.js';
import { rangeHeaders, type ChunkInput } from '../../../registry/upload-service.js';
import type { RangeSource } from '../../../storage/driver.js';
import { logRequest } from '../../request-log.js';
import type { Services } from '../../services.js';
import { visibleRepositories } from '../../visible-repositories.js';
import type { Authorizer } from '../../../auth/authorizer.js';
import { grantNames, type Resource } from '../../../auth/policy.js';
import { ANONYMOUS } from '../../../auth/principal.js';
import { challenge, identify } from '../../authenticate.js';
import { parseV2Path, type V2Route } from './path.js';
import { requestContext } from '../../request-context.js';
import { ManifestPulled } from '../../../events/catalogue.js';

/** tag= parameters accepted on one manifest push (the spec asks for at least 10). */
const MAX_QUERY_TAGS = 50;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Req = FastifyRequest;
type Rep = FastifyReply;

export async function v2Routes(app: FastifyInstance, services: Services): Promise<void> {
  // Bodies are streams handled by the services; never let Fastify buffer or parse them.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));

  const handler = async (req: Req, reply: Rep) => {
    reply.header('Docker-Distribution-API-Version', 'registry/2.0');
    const url = req.raw.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const route = parseV2Path(pathname);
    if (!route) throw new BerthError('ENDPOINT_NOT_FOUND', { detail: { path: pathname } });
    if ('name' in route && !isValidName(route.name)) {
      throw new BerthError('NAME_INVALID', { detail: { name: route.name.slice(0, 300), reason: 'must match [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)* and be at most 255 characters' } });
    }
    const az = services.config.auth.enabled ? await authorize(services, route, req, query) : null;
    return dispatch(services, route, query, req, reply, az);
  };
  app.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], url: '/v2', handler });
  app.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], url: '/v2/*', handler });
}

function parseTag(tag: string): void {
  if (!isValidTag(tag)) throw new BerthError('TAG_INVALID', { message: 'invalid tag', detail: { tag: tag.slice(0, 200) } });
}

function notAllowed(allow: string): never {
  throw new BerthError('METHOD_NOT_ALLOWED', { allow: allow.split(', ') });
}

function digestParam(value: string | null): ParsedDigest {
  if (value === null) throw new BerthError('DIGEST_INVALID', { message: 'digest query parameter required' });
  const d = parseDigest(value);
  if (typeof d !== 'object') throw new BerthError('DIGEST_INVALID', { message: d === 'unsupported' ? 'unsupported digest algorithm' : 'invalid digest', detail: { digest: value.slice(0, 300) } });
  return d;
}

function pageSize(query: URLSearchParams, max: number): number {
  const n = query.get('n');
  if (n === null || n === '') return max;
  if (!/^\d{1,9}$/.test(n)) throw new BerthError('INPUT_INVALID', { message: 'n must be a non-negative integer', detail: { n: n.slice(0, 50) }, field: 'n' });
  return Math.min(Number(n), max);
}

function contentLength(req: Req): number | undefined {
  const v = req.headers['content-length'];
  if (v === undefined) return undefined;
  if (!/^\d{1,15}$/.test(v)) throw new BerthError('SIZE_INVALID', { message: 'malformed Content-Length' });
  return Number(v);
}

function hasBody(req: Req): boolean {
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || (len === undefined && req.headers['transfer-encoding'] !== undefined);
}

function abortSignal(req: Req): AbortSignal {
  const ac = new AbortController();
  req.raw.once('close', () => { if (!req.raw.complete) ac.abort(); });
  return ac.signal;
}

function chunk(req: Req, withRange: boolean): ChunkInput {
  const input: ChunkInput = { body: req.raw, length: contentLength(req), signal: abortSignal(req) };
  const cr = req.headers['content-range'];
  if (withRange && cr !== undefined) {
    const m = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})$/.exec(cr.trim());
    if (!m) throw new BerthError('CONTENT_RANGE_INVALID', { detail: { contentRange: cr.slice(0, 100) } });
    input.range = { start: Number(m[1]), end: Number(m[2]) };
  }
  return input;
}

function link(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}

/** What a request needs: one (resource, action), or just any authenticated caller for /v2/ itself. */
function requirement(route: V2Route, method: string): { resource: Resource; action: string } | 'authenticated' {
  if (route.kind === 'base') return 'authenticated';
  if (route.kind === 'catalog') return { resource: { type: 'registry', name: 'catalog' }, action: '*' };
  const resource: Resource = { type: 'repository', name: route.name };
  if (method === 'DELETE' && (route.kind === 'manifest' || route.kind === 'blob')) return { resource, action: 'delete' };
  if (route.kind === 'uploads' || route.kind === 'upload' || (route.kind === 'manifest' && method === 'PUT')) return { resource, action: 'push' };
  return { resource, action: 'pull' };
}

/** The source of a cross-repository mount (`?mount=&from=`) a blob upload asks for, when it names one. */
function mountSource(route: V2Route, method: string, query: URLSearchParams): string | null {
  if (route.kind !== 'uploads' || method !== 'POST' || query.get('mount') === null) return null;
  const from = query.get('from');
  return from !== null && isValidName(from) && from !== route.name ? from : null;
}

/** The one authorization decision for every /v2 route: the caller, or a 401/403 thrown. */
async function authorize(s: Services, route: V2Route, req: Req, query: URLSearchParams): Promise<Authorizer> {
  const p = await identify(req, s);
  const az = s.auth.authorizer(p);
  const need = requirement(route, req.method);
  if (need === 'authenticated') {
    // A valid token (even an anonymous one) or an account; nobody at all gets the challenge.
    if (p.kind === 'anonymous' && !/^bearer\s/i.test(req.headers.authorization ?? '')) throw challenge(req, s);
    return az;
  }
  const scope = { type: need.resource.type, name: need.resource.name, actions: need.action === 'push' ? ['pull', 'push'] : [need.action] };
  // A mount reads its source: the challenge asks for both, so that a client following it can mount.
  const from = mountSource(route, req.method, query);
  const scopes = from ? [scope, { type: 'repository', name: from, actions: ['pull'] }] : [scope];
  if (await az.allows(need.resource, need.action)) {
    if (need.action === 'push' && need.resource.type === 'repository') await ensureOwned(s, az, need.resource.name, req);
    // A token that never asked for the mount's source is told to; one that asked and was refused pull there uploads instead.
    if (from && p.kind === 'user' && p.via === 'token' && !grantNames(p, { type: 'repository', name: from })) {
      throw challenge(req, s, scopes, 'insufficient_scope', 'a cross-repository mount needs pull access to its source');
    }
    return az;
  }
  const unowned = need.resource.type === 'repository' && (await az.context(need.resource.name)).namespace === 'none';
  const message = unowned
    ? `the namespace ${namespaceOf(need.resource.name)} has no owner: a system administrator must create the organization ${namespaceOf(need.resource.name)} first`
    : 'access to the resource requires (more) authorization';
  // Anonymous callers are challenged as part of the normal flow; an account being refused is on record.
  if (p.kind === 'user') {
    await s.journal.record(requestContext(req, p), [{ action: 'access.denied', resource: `${need.resource.type}:${need.resource.name}`, outcome: 'denied', detail: { action: need.action, via: p.via, ...(unowned ? { reason: 'namespace has no owner' } : {}) } }]);
  }
  if (p.kind === 'anonymous' || (p.kind === 'user' && p.via === 'token')) {
    throw challenge(req, s, scopes, p.kind === 'anonymous' ? undefined : 'insufficient_scope', message);
  }
  throw new BerthError('DENIED', { message: unowned ? message : undefined, detail: [{ Type: need.resource.type, Name: need.resource.name, Action: need.action }] });
}

/**
 * A push may go only into a namespace somebody owns. Into one nobody owns, the policy allows it only to a
 * pusher who may claim it (auth.pushCreatesOrganization), asked on the roles and settings of now (not on a
 * token's grant, which may predate the namespace losing its owner): the organization is created now, owned
 * by the pusher. Whoever wins a race to create it, the push is decided again against the namespace as it now is.
 */
async function ensureOwned(s: Services, az: Authorizer, name: string, req: Req): Promise<void> {
  if ((await az.context(name)).namespace !== 'none') return;
  const p = az.principal;
  const ns = namespaceOf(name);
  if (p.kind === 'user' && (await az.can({ type: 'repository', name }, 'push'))) {
    try {
      await s.organizations.create(ns, { owner: p.name }, { ...requestContext(req, p) });
    } catch (e) {
      if (!isBerthError(e, 'INPUT_INVALID', 'NOT_FOUND', 'CONFLICT')) throw e;
    }
  }
  if (!(await s.auth.authorizer(p).can({ type: 'repository', name }, 'push'))) {
    throw new BerthError('DENIED', { message: `the namespace ${ns} has no owner that lets you push`, detail: [{ Type: 'repository', Name: name, Action: 'push' }] });
  }
}

/**
 * A manifest pull that a pull rule refuses: 403 DENIED naming the rule's reason (HEAD: the status only), and
 * a denied manifest.pull on record with the reason. With authentication off the rules still hold (for anonymous).
 */
async function decideManifestPull(s: Services, az: Authorizer | null, name: string, ref: Reference, digest: string, req: Req): Promise<void> {
  const d = await (az ?? s.auth.authorizer(ANONYMOUS)).pullManifest(name, digest);
  if (d.allow) return;
  const p = az?.principal ?? null;
  await s.journal.record(requestContext(req, p), [{
    action: 'manifest.pull', resource: `repository:${name}${'tag' in ref ? `:${ref.tag}` : `@${digest}`}`, outcome: 'denied', detail: { digest, rule: d.rule, reason: d.reason },
  }]);
  throw new BerthError('DENIED', { message: `pull of ${digest} refused: ${d.reason}`, detail: { name, digest, rule: d.rule, reason: d.reason } });
}

async function dispatch(s: Services, route: V2Route, query: URLSearchParams, req: Req, reply: Rep, az: Authorizer | null): Promise<unknown> {
  const method = req.method;
  const ctx = () => requestContext(req, az?.principal ?? null);
  const cfg = s.config.registry;
  switch (route.kind) {
    case 'base':
      if (method !== 'GET' && method !== 'HEAD') notAllowed('GET, HEAD');
      return reply.code(200).type('application/json').send('{}');

    case 'catalog': {
      if (method !== 'GET') notAllowed('GET');
      const n = pageSize(query, cfg.maxPageSize);
      const last = query.get('last') ?? undefined;
      const page = n === 0 ? { names: [], more: false } : await visibleRepositories(s, az, n, last);
      if (page.more) reply.header('Link', link('/v2/_catalog', n, page.names[page.names.length - 1]));
      return reply.type('application/json').send({ repositories: page.names });
    }

    case 'tags': {
      if (method !== 'GET') notAllowed('GET');
      const n = pageSize(query, cfg.maxPageSize);
      const last = query.get('last') ?? undefined;
      const page = await s.manifests.tags(route.name, n, last);
      if (page.more) reply.header('Link', link(`/v2/${route.name}/tags/list`, n, page.tags[page.tags.length - 1]));
      return reply.type('application/json').send({ name: route.name, tags: page.tags });
    }

    case 'manifest': {
      // A reference that cannot be a tag or digest names no manifest: the spec wants 404 for GET and HEAD
      // (a push with it is still a bad tag, 400).
      if ((method === 'GET' || method === 'HEAD') && !route.reference.includes(':') && !isValidTag(route.reference)) {
        throw new BerthError('MANIFEST_UNKNOWN', { detail: { reference: route.reference.slice(0, 200) } });
      }
      const ref = parseReference(route.reference);
      if (method === 'GET' || method === 'HEAD') {
        const m = method === 'HEAD' ? await s.manifests.head(route.name, ref, req.headers.accept) : await s.manifests.get(route.name, ref, req.headers.accept);
        // The second decision, now that the digest is known: the pull rules features registered (none: one property read).
        if (s.auth.pullRules.active) await decideManifestPull(s, az, route.name, ref, m.digest, req);
        reply.header('Docker-Content-Digest', m.digest).header('Content-Type', m.mediaType).header('ETag', `"${m.digest}"`);
        if (method === 'HEAD') return reply.header('Content-Length', m.size).send();
        // The pull is on record before the client has the manifest.
        const pull = ctx();
        await s.journal.record(pull, [{
          action: 'manifest.pull', resource: `repository:${route.name}${'tag' in ref ? `:${ref.tag}` : `@${m.digest}`}`, detail: { digest: m.digest },
        }], (tx) => s.outbox.append(tx, pull, ManifestPulled({ repository: route.name, digest: m.digest, mediaType: m.mediaType, size: m.size, ...('tag' in ref ? { tag: ref.tag } : {}) })));
        return reply.send((m as unknown as { content: Buffer }).content);
      }
      if (method === 'PUT') {
        // end-7b: a push by digest may name tags to apply with it.
        const tags = [...new Set(query.getAll('tag'))];
        if (tags.length > 0) {
          if (!('digest' in ref)) throw new BerthError('TAG_INVALID', { message: 'tag query parameters are only allowed on a push by digest' });
          if (tags.length > MAX_QUERY_TAGS) throw new BerthError('TOO_MANY_TAGS', { message: `at most ${MAX_QUERY_TAGS} tags per push` });
          for (const t of tags) parseTag(t);
        }
        const max = cfg.maxManifestBytes;
        const len = contentLength(req);
        const tooLarge = () => new BerthError('MANIFEST_TOO_LARGE', { message: `manifest exceeds the ${max}-byte limit`, detail: { limit: max } });
        if (len !== undefined && len > max) { req.raw.resume(); throw tooLarge(); }
        let body: Buffer;
        try {
          body = await readLimited(req.raw, max);
        } catch (e) {
          if (e instanceof BodyTooLargeError) throw tooLarge();
          throw e;
        }
        if (len !== undefined && body.length !== len) throw new BerthError('SIZE_INVALID', { detail: { contentLength: len, received: body.length } });
        const res = await s.manifests.put(route.name, ref, body, req.headers['content-type'], tags, ctx());
        reply.code(201).header('Location', `/v2/${route.name}/manifests/${res.digest}`).header('Docker-Content-Digest', res.digest);
        if (tags.length > 0) reply.header('OCI-Tag', tags);
        if (res.subject) reply.header('OCI-Subject', res.subject);
        return reply.header('Content-Length', 0).send();
      }
      if (method === 'DELETE') {
        if (!cfg.deleteEnabled) throw deletionDisabled();
        await s.manifests.delete(route.name, ref, ctx());
        return reply.code(202).header('Content-Length', 0).send();
      }
      return notAllowed('GET, HEAD, PUT, DELETE');
    }

    case 'blob': {
      const digest = digestParam(route.digest);
      if (method === 'GET' || method === 'HEAD') {
        const info = await s.blobs.stat(route.name, digest);
        reply.header('Docker-Content-Digest', info.digest).header('Accept-Ranges', 'bytes')
          .header('ETag', `"${info.digest}"`).header('Cache-Control', 'max-age=31536000, immutable')
          .header('Content-Type', 'application/octet-stream');
        const range = parseRange(req.headers.range, info.size);
        if (range === 'unsatisfiable') {
          throw new BerthError('RANGE_NOT_SATISFIABLE', { detail: { range: req.headers.range, size: info.size }, blobSize: info.size });
        }
        if (range) {
          reply.code(206).header('Content-Range', `bytes ${range.start}-${range.end}/${info.size}`).header('Content-Length', range.end - range.start + 1);
        } else {
          reply.header('Content-Length', info.size);
        }
        if (method === 'HEAD') return reply.send();
        s.pullSummaries.add(ctx(), route.name, info.digest, range ? range.end - range.start + 1 : info.size);
        if (info.size === 0) return reply.send('');
        const source = await s.blobs.openRange(digest, range?.start ?? 0, range?.end ?? info.size - 1);
        if (source) return sendRange(req, reply, source);
        const content = await s.blobs.open(digest, info.size, range ?? undefined, () => abortSignal(req));
        return reply.send(content);
      }
      if (method === 'DELETE') {
        if (!cfg.deleteEnabled) throw deletionDisabled();
        await s.blobs.delete(route.name, digest, ctx());
        return reply.code(202).header('Content-Length', 0).send();
      }
      return notAllowed('GET, HEAD, DELETE');
    }

    case 'uploads': {
      if (method !== 'POST') notAllowed('POST');
      const mount = query.get('mount');
      if (mount !== null) {
        const digest = digestParam(mount);
        const from = query.get('from');
        // Mounting reads the source: without pull rights there, fall back to a plain upload.
        if (from !== null && isValidName(from) && (!az || await az.allows({ type: 'repository', name: from }, 'pull'))) {
          const mounted = await s.blobs.mount(route.name, digest, from, ctx());
          if (mounted) {
            req.raw.resume();
            return reply.code(201).header('Location', `/v2/${route.name}/blobs/${digest.digest}`)
              .header('Docker-Content-Digest', digest.digest).header('Content-Length', 0).send();
          }
        }
        // Not mountable: fall back to an ordinary upload session, as the spec allows.
      }
      const digestValue = query.get('digest');
      if (digestValue !== null && mount === null) {
        const digest = digestParam(digestValue);
        const res = await s.uploads.monolithic(route.name, digest, chunk(req, false));
        return reply.code(201).header('Location', `/v2/${route.name}/blobs/${res.digest}`)
          .header('Docker-Content-Digest', res.digest).header('Content-Length', 0).send();
      }
      req.raw.resume();
      const session = await s.uploads.start(route.name);
      reply.code(202).headers(rangeHeaders(session)).header('Content-Length', 0);
      if (cfg.chunkMinLength > 0) reply.header('OCI-Chunk-Min-Length', cfg.chunkMinLength);
      return reply.send();
    }

    case 'upload': {
      if (!UUID.test(route.id)) {
        req.raw.resume();
        throw new BerthError('BLOB_UPLOAD_UNKNOWN', { detail: { session: route.id.slice(0, 100) } });
      }
      if (method === 'GET') {
        const session = await s.uploads.get(route.name, route.id);
        return reply.code(204).headers(rangeHeaders(session)).send();
      }
      if (method === 'PATCH') {
        const session = await s.uploads.append(route.name, route.id, chunk(req, true), cfg.chunkMinLength);
        return reply.code(202).headers(rangeHeaders(session)).header('Content-Length', 0).send();
      }
      if (method === 'PUT') {
        const digest = digestParam(query.get('digest'));
        const input = hasBody(req) ? chunk(req, true) : (req.raw.resume(), undefined);
        const res = await s.uploads.complete(route.name, route.id, digest, input);
        return reply.code(201).header('Location', `/v2/${route.name}/blobs/${res.digest}`)
          .header('Docker-Content-Digest', res.digest).header('Content-Length', 0).send();
      }
      if (method === 'DELETE') {
        await s.uploads.cancel(route.name, route.id);
        return reply.code(204).send();
      }
      return notAllowed('GET, PATCH, PUT, DELETE');
    }

    case 'referrers': {
      if (method !== 'GET') notAllowed('GET');
      const digest = digestParam(route.digest);
      const artifactType = query.get('artifactType') ?? undefined;
      const n = pageSize(query, cfg.maxPageSize);
      const last = query.get('last') ?? undefined;
      const { manifests, more } = await s.manifests.referrers(route.name, digest, artifactType, n, last);
      if (artifactType !== undefined) reply.header('OCI-Filters-Applied', 'artifactType');
      if (more) {
        const next = new URLSearchParams({ n: String(n), last: manifests[manifests.length - 1].digest });
        if (artifactType !== undefined) next.set('artifactType', artifactType);
        reply.header('Link', `</v2/${route.name}/referrers/${digest.digest}?${next}>; rel="next"`);
      }
      // A Buffer, so the media type goes out exactly, without a charset parameter.
      return reply.type(MediaType.ociIndex).send(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests })));
    }
  }
}

/** Writes a large blob straight to the socket (Fastify steps aside), then logs like any response. */
async function sendRange(req: Req, reply: Rep, source: RangeSource): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string | number | string[]>);
  let sent = 0;
  try {
    sent = await source.pipeTo(res, abortSignal(req));
    res.end();
  } catch (e) {
    req.log.info({ err: { message: (e as Error).message } }, 'blob transfer ended early');
    res.destroy();
  } finally {
    await source.close().catch(() => undefined);
  }
  logRequest(req, reply.statusCode, sent, reply.elapsedTime);
}

/** The catalog page as the caller may see it: only repositories they may pull. */

function deletionDisabled(): BerthError {
  return new BerthError('DELETION_DISABLED');
}

/** A single byte range (RFC 9110); multiple or malformed ranges are ignored (whole content). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    if (size === 0) return null; // RFC 9110: a non-zero suffix of an empty representation is ignored
    return { start: Math.max(size - suffix, 0), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || (m[2] !== '' && Number(m[2]) < start)) return 'unsatisfiable';
  return { start, end };
}
