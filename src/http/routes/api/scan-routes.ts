// /api/v1 for scans: a manifest's catalogue and where its scan stands, a scan on demand, its SBOMs.
import { BerthError } from '../../../errors/berth-error.js';
import { parseReference } from '../../../registry/manifest-service.js';
import { SBOM_MEDIA_TYPES } from '../../../scan/scan-service.js';
import * as C from '../../contracts/api.js';
import type { Services } from '../../services.js';
import { route, type ApiRoute } from './framework.js';
import { repo } from './repository-routes.js';

/** The manifest digest a tag or digest names in the repository (MANIFEST_UNKNOWN when it names none). */
async function resolve(s: Services, name: string, reference: string): Promise<string> {
  return (await s.manifests.head(name, parseReference(reference), undefined)).digest;
}

export const scanRoutes: ApiRoute<any, any>[] = [
  route({
    method: 'GET', path: '/repositories/:name/manifests/:reference/scan', tag: 'scanning',
    summary: 'What is inside the manifest: its catalogue (packages, with the layer that brought each) and where its scan stands',
    response: C.ScanView, needs: repo('pull'),
    async handle(c) { return c.s.scans.view(await resolve(c.s, c.params.name, c.params.reference)); },
  }),
  route({
    method: 'POST', path: '/repositories/:name/manifests/:reference/scan', tag: 'scanning',
    summary: 'Scan the manifest now (queued ahead of pushes); the last catalogue stands until the new one is made',
    response: C.ScanView, status: 202, needs: repo('push'),
    async handle(c) {
      const digest = await resolve(c.s, c.params.name, c.params.reference);
      return c.s.scans.request(c.params.name, digest, c.principal.kind === 'user' ? `request by ${c.principal.name}` : 'request');
    },
  }),
  route({
    method: 'GET', path: '/repositories/:name/manifests/:reference/sbom', tag: 'scanning',
    summary: 'The SBOM of an image (CycloneDX 1.6 or SPDX 2.3 JSON), from its catalogue',
    query: C.SbomQuery, needs: repo('pull'), produces: Object.values(SBOM_MEDIA_TYPES),
    async handle(c) {
      const digest = await resolve(c.s, c.params.name, c.params.reference);
      const format = c.query.format ?? 'cyclonedx';
      const tags = 'tag' in parseReference(c.params.reference) ? [c.params.reference] : undefined;
      const sbom = await c.s.scans.sbom(c.params.name, digest, format, { platform: c.query.platform, tags });
      if (!sbom) throw new BerthError('SCAN_PENDING', { message: `no catalogue of ${digest} yet: scan it (POST …/scan) and ask again` });
      return c.reply.code(200).header('Content-Type', SBOM_MEDIA_TYPES[format]).send(sbom.document);
    },
  }),
];
