// /v2/<name>/blobs/uploads/ (POST: start, monolithic or mount) and /v2/<name>/blobs/uploads/<session>
// (GET status, PATCH chunk, PUT complete, DELETE cancel). Every one of them needs push.
import { BerthError } from '../../../errors/berth-error.js';
import { isValidName } from '../../../oci/reference.js';
import { rangeHeaders } from '../../../registry/upload-service.js';
import { chunk, digestParam, hasBody } from './input.js';
import { repository, v2Resource, type RouteOf } from './route.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The source of a cross-repository mount (`?mount=&from=`) a blob upload asks for, when it names one. */
function mountSource(route: RouteOf<'uploads'>, method: string, query: URLSearchParams): string | null {
  if (method !== 'POST' || query.get('mount') === null) return null;
  const from = query.get('from');
  return from !== null && isValidName(from) && from !== route.name ? from : null;
}

export const uploads = v2Resource<RouteOf<'uploads'>>({
  kind: 'uploads',
  needs: (route, method, query) => ({ resource: repository(route.name), action: 'push', mountFrom: mountSource(route, method, query) }),
  methods: {
    POST: async ({ s, route, query, req, reply, az, ctx }) => {
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
      if (s.config.registry.chunkMinLength > 0) reply.header('OCI-Chunk-Min-Length', s.config.registry.chunkMinLength);
      return reply.send();
    },
  },
});

export const upload = v2Resource<RouteOf<'upload'>>({
  kind: 'upload',
  needs: (route) => ({ resource: repository(route.name), action: 'push' }),
  parse: ({ route, req }) => {
    if (!UUID.test(route.id)) {
      req.raw.resume();
      throw new BerthError('BLOB_UPLOAD_UNKNOWN', { detail: { session: route.id.slice(0, 100) } });
    }
  },
  methods: {
    GET: async ({ s, route, reply }) => {
      const session = await s.uploads.get(route.name, route.id);
      return reply.code(204).headers(rangeHeaders(session)).send();
    },
    PATCH: async ({ s, route, req, reply }) => {
      const session = await s.uploads.append(route.name, route.id, chunk(req, true), s.config.registry.chunkMinLength);
      return reply.code(202).headers(rangeHeaders(session)).header('Content-Length', 0).send();
    },
    PUT: async ({ s, route, query, req, reply }) => {
      const digest = digestParam(query.get('digest'));
      const input = hasBody(req) ? chunk(req, true) : (req.raw.resume(), undefined);
      const res = await s.uploads.complete(route.name, route.id, digest, input);
      return reply.code(201).header('Location', `/v2/${route.name}/blobs/${res.digest}`)
        .header('Docker-Content-Digest', res.digest).header('Content-Length', 0).send();
    },
    DELETE: async ({ s, route, reply }) => {
      await s.uploads.cancel(route.name, route.id);
      return reply.code(204).send();
    },
  },
});
