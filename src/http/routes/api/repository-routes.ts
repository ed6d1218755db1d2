// /api/v1 repositories: the ones a caller may pull, their visibility and the roles given on each.
import { parseSubject } from '../../../auth/organizations.js';
import type { Resource } from '../../../auth/policy.js';
import { BerthError } from '../../../errors/berth-error.js';
import { isValidName } from '../../../oci/reference.js';
import { visibleRepositories } from '../../visible-repositories.js';
import * as C from '../../contracts/api.js';
import { route, type ApiRoute } from './framework.js';

/** Repository names contain slashes: the path carries them encoded (%2F) as one segment. */
export const repo = (action: string) => (p: Record<string, string>) => {
  if (!isValidName(p.name)) throw new BerthError('NAME_INVALID', { message: `invalid repository name ${JSON.stringify(p.name.slice(0, 256))}` });
  return { resource: { type: 'repository', name: p.name } as Resource, action };
};

export const repositoryRoutes: ApiRoute<any, any>[] = [
  route({
    method: 'GET', path: '/repositories', tag: 'repositories', summary: 'Repositories the caller may pull, in name order',
    query: C.PageQuery, response: C.Page(C.RepositorySummary), needs: 'anyone',
    async handle(c) {
      const n = c.query.n ?? 100;
      const q = c.query.q;
      const page = await visibleRepositories(c.s, c.authz, n, c.query.last, q || undefined);
      const items = [];
      for (const name of page.names) items.push({ name, public: (await c.authz.context(name)).public });
      return { items, next: page.more ? page.names[page.names.length - 1] : null };
    },
  }),
  route({
    method: 'GET', path: '/repositories/:name', tag: 'repositories', summary: "A repository's visibility and what the caller may do with it",
    response: C.Repository, needs: repo('pull'),
    async handle(c) {
      const name = c.params.name;
      const can = async (a: string) => c.authz.can({ type: 'repository', name }, a);
      return {
        name, exists: await c.s.repositories.exists(name),
        visibility: await c.s.organizations.repositoryVisibility(name), public: (await c.authz.context(name)).public,
        permissions: { pull: true, push: await can('push'), delete: await can('delete'), settings: await can('settings'), members: await can('members') },
      };
    },
  }),
  route({
    method: 'PATCH', path: '/repositories/:name', tag: 'repositories', summary: 'Make a repository public, private, or as its organization (inherit)',
    body: C.RepositoryUpdate, needs: repo('settings'),
    async handle(c) { await c.s.organizations.setRepositoryVisibility(c.params.name, c.body.visibility, c.ctx); },
  }),
  route({
    method: 'DELETE', path: '/repositories/:name', tag: 'repositories',
    summary: 'Delete a repository: its tags, manifests, blob links, visibility and roles (garbage collection then frees blobs no other repository uses)',
    response: C.RepositoryDeleted, needs: repo('delete'),
    async handle(c) { return c.s.deletion.deleteRepository(c.params.name, c.ctx); },
  }),
  route({
    method: 'DELETE', path: '/repositories/:name/tags/:tag', tag: 'repositories', summary: 'Delete a tag; its manifest stays, pullable by digest',
    needs: repo('delete'),
    async handle(c) { await c.s.deletion.deleteTag(c.params.name, c.params.tag, c.ctx); },
  }),
  route({
    method: 'GET', path: '/repositories/:name/members', tag: 'repositories', summary: 'Roles given on this repository (besides the organization\'s)',
    response: C.Items(C.Member), needs: repo('settings'),
    async handle(c) { return { items: await c.s.organizations.repositoryMembers(c.params.name) }; },
  }),
  route({
    method: 'PUT', path: '/repositories/:name/members/:subject', tag: 'repositories', summary: 'Give a user or team (`team:NAME`) a role on this repository',
    body: C.RoleAssignment, needs: repo('members'),
    async handle(c) { await c.s.organizations.setRepositoryRole(c.params.name, parseSubject(c.params.subject), c.body.role, c.ctx); },
  }),
  route({
    method: 'DELETE', path: '/repositories/:name/members/:subject', tag: 'repositories', summary: 'Take a repository role away', needs: repo('members'),
    async handle(c) { await c.s.organizations.setRepositoryRole(c.params.name, parseSubject(c.params.subject), null, c.ctx); },
  }),
];
