// /v2/ — the OCI Distribution API. The dispatcher: match the path (path.ts), run the one authorization
// step for what the resource declares it needs, then the resource's handler for the method.
// The resources: base, catalog, tags, manifests, blobs, uploads, referrers (one file each).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError } from '../../../errors/berth-error.js';
import { isValidName } from '../../../oci/reference.js';
import { requestContext } from '../../request-context.js';
import type { Services } from '../../services.js';
import { authorize } from './authorize.js';
import { base } from './base.js';
import { blobs } from './blobs.js';
import { catalog } from './catalog.js';
import { manifests } from './manifests.js';
import { parseV2Path, type V2Route } from './path.js';
import { referrers } from './referrers.js';
import type { V2Context, V2Method, V2Resource } from './route.js';
import { tags } from './tags.js';
import { upload, uploads } from './uploads.js';

type AnyResource = V2Resource<any, any>;

const RESOURCES: { [K in V2Route['kind']]: AnyResource } = {
  base, catalog, tags, manifest: manifests, blob: blobs, uploads, upload, referrers,
};

export async function v2Routes(app: FastifyInstance, services: Services): Promise<void> {
  // Bodies are streams handled by the services; never let Fastify buffer or parse them.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));

  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
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
    const resource = RESOURCES[route.kind];
    const az = services.config.auth.enabled ? await authorize(services, resource.needs(route, req.method, query), req) : null;
    const c: V2Context<V2Route> = { s: services, route, query, req, reply, az, ctx: () => requestContext(req, az?.principal ?? null) };
    const parsed = resource.parse?.(c);
    const handle = resource.methods[req.method as V2Method];
    if (!handle) throw new BerthError('METHOD_NOT_ALLOWED', { allow: Object.keys(resource.methods) });
    return handle(c, parsed);
  };
  app.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], url: '/v2', handler });
  app.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], url: '/v2/*', handler });
}
