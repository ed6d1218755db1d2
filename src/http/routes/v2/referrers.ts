// GET /v2/<name>/referrers/<digest>: the manifests whose subject is the digest, as an OCI index.
import { MediaType } from '../../../oci/media-types.js';
import { digestParam, pageSize } from './input.js';
import { repository, v2Resource, type RouteOf } from './route.js';

export const referrers = v2Resource<RouteOf<'referrers'>>({
  kind: 'referrers',
  needs: (route) => ({ resource: repository(route.name), action: 'pull' }),
  methods: {
    GET: async ({ s, route, query, reply }) => {
      const digest = digestParam(route.digest);
      const artifactType = query.get('artifactType') ?? undefined;
      const n = pageSize(query, s.config.registry.maxPageSize);
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
    },
  },
});
