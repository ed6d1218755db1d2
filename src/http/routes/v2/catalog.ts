// GET /v2/_catalog: the repositories the caller may pull, page by page.
import { visibleRepositories } from '../../visible-repositories.js';
import { link, pageSize } from './input.js';
import { v2Resource, type RouteOf } from './route.js';

export const catalog = v2Resource<RouteOf<'catalog'>>({
  kind: 'catalog',
  needs: () => ({ resource: { type: 'registry', name: 'catalog' }, action: '*' }),
  methods: {
    GET: async ({ s, query, reply, az }) => {
      const n = pageSize(query, s.config.registry.maxPageSize);
      const last = query.get('last') ?? undefined;
      const page = n === 0 ? { names: [], more: false } : await visibleRepositories(s, az, n, last);
      if (page.more) reply.header('Link', link('/v2/_catalog', n, page.names[page.names.length - 1]));
      return reply.type('application/json').send({ repositories: page.names });
    },
  },
});
