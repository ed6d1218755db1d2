// /v2/<name>/manifests/<reference>: pull (GET, HEAD), push (PUT), delete.
import { BerthError } from '../../../errors/berth-error.js';
import { BodyTooLargeError, readLimited } from '../../../lib/read-limited.js';
import { isValidTag } from '../../../oci/reference.js';
import { parseReference, type Reference } from '../../../registry/manifest-service.js';
import { decideManifestPull } from './authorize.js';
import { contentLength, deletionDisabled, parseTag } from './input.js';
import { repository, v2Resource, type RouteOf, type V2Context } from './route.js';

/** tag= parameters accepted on one manifest push (the spec asks for at least 10). */
const MAX_QUERY_TAGS = 50;

type Route = RouteOf<'manifest'>;

async function pull(c: V2Context<Route>, ref: Reference, head: boolean): Promise<unknown> {
  const { s, route, req, reply } = c;
  const m = head ? await s.manifests.head(route.name, ref, req.headers.accept) : await s.manifests.get(route.name, ref, req.headers.accept);
  // The second decision, now that the digest is known: the pull rules features registered (none: one property
  // read). HEAD hands out no content and is never refused.
  if (!head && s.auth.pullRules.active) await decideManifestPull(c, ref, m.digest);
  reply.header('Docker-Content-Digest', m.digest).header('Content-Type', m.mediaType).header('ETag', `"${m.digest}"`);
  if (head) return reply.header('Content-Length', m.size).send();
  // The pull is on record before the client has the manifest.
  await s.manifests.recordPull(c.ctx(), route.name, ref, m);
  return reply.send((m as unknown as { content: Buffer }).content);
}

export const manifests = v2Resource<Route, Reference>({
  kind: 'manifest',
  needs: (route, method) => ({ resource: repository(route.name), action: method === 'DELETE' ? 'delete' : method === 'PUT' ? 'push' : 'pull' }),
  parse: ({ route, req }) => {
    // A reference that cannot be a tag or digest names no manifest: the spec wants 404 for GET and HEAD
    // (a push with it is still a bad tag, 400).
    if ((req.method === 'GET' || req.method === 'HEAD') && !route.reference.includes(':') && !isValidTag(route.reference)) {
      throw new BerthError('MANIFEST_UNKNOWN', { detail: { reference: route.reference.slice(0, 200) } });
    }
    return parseReference(route.reference);
  },
  methods: {
    GET: (c, ref) => pull(c, ref, false),
    HEAD: (c, ref) => pull(c, ref, true),
    PUT: async ({ s, route, query, req, reply, ctx }, ref) => {
      // end-7b: a push by digest may name tags to apply with it.
      const tags = [...new Set(query.getAll('tag'))];
      if (tags.length > 0) {
        if (!('digest' in ref)) throw new BerthError('TAG_INVALID', { message: 'tag query parameters are only allowed on a push by digest' });
        if (tags.length > MAX_QUERY_TAGS) throw new BerthError('TOO_MANY_TAGS', { message: `at most ${MAX_QUERY_TAGS} tags per push` });
        for (const t of tags) parseTag(t);
      }
      const max = s.config.registry.maxManifestBytes;
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
    },
    DELETE: async ({ s, route, reply, ctx }, ref) => {
      if (!s.config.registry.deleteEnabled) throw deletionDisabled();
      await s.manifests.delete(route.name, ref, ctx());
      return reply.code(202).header('Content-Length', 0).send();
    },
  },
});
