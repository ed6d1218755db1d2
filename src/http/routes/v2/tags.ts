// GET /v2/<name>/tags/list: a repository's tags, page by page.
import { link, pageSize } from './input.js';
import { repository, v2Resource, type RouteOf } from './route.js';

export const tags = v2Resource<RouteOf<'tags'>>({
  kind: 'tags',
  needs: (route) => ({ resource: repository(route.name), action: 'pull' }),
  methods: {
    GET: async ({ s, route, query, reply }) => {
      const n = pageSize(query, s.config.registry.maxPageSize);
      const last = query.get('last') ?? undefined;
      const page = await s.manifests.tags(route.name, n, last);
      if (page.more) reply.header('Link', link(`/v2/${route.name}/tags/list`, n, page.tags[page.tags.length - 1]));
      return reply.type('application/json').send({ name: route.name, tags: page.tags });
    },
  },
});
