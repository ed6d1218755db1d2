// /api/v1 for browsing: tags with details, a manifest with its configuration and referrers, storage and
// activity statistics, and garbage collection runs with progress.
import { z } from 'zod';
import { BerthError } from '../../../errors/berth-error.js';
import * as C from '../../contracts/api.js';
import { route, type ApiRoute } from './framework.js';
import { repo } from './repository-routes.js';

const gcAdmin = () => ({ resource: { type: 'system' as const, name: 'gc' }, action: 'run' });

export const browseRoutes: ApiRoute<any, any>[] = [
  route({
    method: 'GET', path: '/repositories/:name/tags', tag: 'repositories', summary: 'Tags with digest, media type, size, push time and platforms; sorted and paged',
    query: C.TagQuery, response: C.TagPage, needs: repo('pull'),
    async handle(c) {
      const page = await c.s.browser.tags(c.params.name, { n: c.query.n ?? 100, last: c.query.last, sort: c.query.sort ?? 'name', order: c.query.order ?? 'asc', q: c.query.q });
      if (!page) throw new BerthError('NAME_UNKNOWN', { message: `no repository ${c.params.name.slice(0, 256)}` });
      return page;
    },
  }),
  route({
    method: 'GET', path: '/repositories/:name/manifests/:reference', tag: 'repositories', summary: 'A manifest (by tag or digest) with its image configuration, layers, children and referrers',
    response: C.ManifestDetail, needs: repo('pull'),
    async handle(c) {
      const m = await c.s.browser.manifest(c.params.name, c.params.reference);
      if (!m) throw new BerthError('MANIFEST_UNKNOWN', { message: `no manifest ${c.params.reference.slice(0, 200)} in ${c.params.name.slice(0, 256)}` });
      return m;
    },
  }),
  route({
    method: 'GET', path: '/stats/storage', tag: 'statistics', summary: 'Bytes stored per organization and repository (those the caller may pull)',
    response: C.StorageStats, needs: 'authenticated',
    async handle(c) { return c.s.browser.storage((name) => c.authz.can({ type: 'repository', name }, 'pull')); },
  }),
  route({
    method: 'GET', path: '/stats/activity', tag: 'statistics', summary: 'Pushes and pulls per day (UTC) of repositories the caller may pull',
    query: z.strictObject({ days: z.coerce.number().int().min(1).max(366).optional() }), response: C.ActivityStats, needs: 'authenticated',
    async handle(c) { return c.s.browser.activity(c.query.days ?? 30, (name) => c.authz.can({ type: 'repository', name }, 'pull')); },
  }),
  route({
    method: 'POST', path: '/gc', tag: 'operations', summary: 'Start a garbage collection (or answer the one running); follow it with GET /gc/{id}',
    body: z.strictObject({ dryRun: z.boolean().optional() }), response: C.GcRunView, status: 202, needs: gcAdmin,
    async handle(c) {
      // The run goes to whichever process holds the collection's lease; it records the outcome in the audit
      // log as this caller's.
      return c.s.gcRuns.start(c.body.dryRun ?? false, { ...c.ctx });
    },
  }),
  route({
    method: 'GET', path: '/gc', tag: 'operations', summary: 'Recent garbage collection runs (started from the API or on the interval, by any process)', response: C.Items(C.GcRunView), needs: gcAdmin,
    async handle(c) { return { items: await c.s.gcRuns.list() }; },
  }),
  route({
    method: 'GET', path: '/gc/:id', tag: 'operations', summary: 'A garbage collection run: state, progress, report', response: C.GcRunView, needs: gcAdmin,
    async handle(c) {
      const run = await c.s.gcRuns.get(c.params.id);
      if (!run) throw new BerthError('NOT_FOUND', { message: `no garbage collection run ${c.params.id.slice(0, 64)} (old runs are pruned from the history)` });
      return run;
    },
  }),
];
