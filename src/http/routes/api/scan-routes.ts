// /api/v1 for scans: a manifest's catalogue and where its scan stands, a scan on demand, its SBOMs.
import { BerthError } from '../../../errors/berth-error.js';
import { parseReference } from '../../../registry/manifest-service.js';
import { SBOM_MEDIA_TYPES } from '../../../scan/scan-service.js';
import { HARBOR_REPORT_MEDIA_TYPE, harborReport } from '../../../scan/report.js';
import { SEVERITIES } from '../../../scan/matcher.js';
import { SCANNER } from '../../../scan/catalogers.js';
import { BERTH_VERSION } from '../../../lib/version.js';
import * as C from '../../contracts/api.js';
import type { Services } from '../../services.js';
import { route, type ApiRoute } from './framework.js';
import { repo } from './repository-routes.js';

function toView(v: Awaited<ReturnType<Services['scanPolicies']['show']>>) {
  return {
    policy: v.policy ? { target: v.policy.target, severity: v.policy.severity, unscanned: v.policy.unscanned, exempt: v.policy.exempt, exemptPushers: v.policy.exemptPushers, updatedAt: v.policy.updatedAt, updatedBy: v.policy.updatedBy } : null,
    allowList: v.allowList.map((e) => ({ vulnId: e.vulnId, until: e.until, reason: e.reason, createdBy: e.createdBy, createdAt: e.createdAt, expired: e.until <= Date.now() })),
  };
}

/** The manifest digest a tag or digest names in the repository (MANIFEST_UNKNOWN when it names none). */
async function resolve(s: Services, name: string, reference: string): Promise<string> {
  return (await s.manifests.head(name, parseReference(reference), undefined)).digest;
}

/** Changing an organization's policy takes its admin role; a repository's, its settings right. */
const policyAdmin = (p: Record<string, string>) => {
  const t = p.target ?? '';
  if (t.includes('/')) return repo('settings')({ name: t });
  return { resource: { type: 'organization' as const, name: t }, action: 'admin' };
};
const policyRead = (p: Record<string, string>) => {
  const t = p.target ?? '';
  if (t.includes('/')) return repo('pull')({ name: t });
  return { resource: { type: 'organization' as const, name: t }, action: 'read' };
};

export const scanRoutes: ApiRoute<any, any>[] = [
  route({
    method: 'GET', path: '/vulndb', tag: 'scanning', summary: 'The vulnerability database: sources, counts, last import, whether it is out of date (vulndb.maxAge)',
    response: C.VulnDbStatusView, needs: 'authenticated',
    async handle(c) { return c.s.vulndb.status(); },
  }),
  route({
    method: 'GET', path: '/scan/policies/:target', tag: 'scanning', summary: 'The pull policy on findings of an organization or repository (TARGET has a "/"), with its allow-list',
    response: C.ScanPolicyView, needs: policyRead,
    async handle(c) { return toView(await c.s.scanPolicies.show(c.params.target)); },
  }),
  route({
    method: 'PUT', path: '/scan/policies/:target', tag: 'scanning', summary: 'Refuse pulls of images with findings at or above a severity (optionally images not scanned yet); exempt principals',
    body: C.ScanPolicyBody, response: C.ScanPolicyView, needs: policyAdmin,
    async handle(c) {
      await c.s.scanPolicies.set(c.params.target, { severity: c.body.severity, unscanned: c.body.unscanned ?? 'allow', exempt: c.body.exempt ?? [], exemptPushers: c.body.exemptPushers ?? false }, c.ctx);
      return toView(await c.s.scanPolicies.show(c.params.target));
    },
  }),
  route({
    method: 'DELETE', path: '/scan/policies/:target', tag: 'scanning', summary: 'Remove the policy (the allow-list stays)', status: 204, needs: policyAdmin,
    async handle(c) {
      if (!(await c.s.scanPolicies.remove(c.params.target, c.ctx))) throw new BerthError('NOT_FOUND', { message: `no scan policy on ${c.params.target.slice(0, 256)}` });
      return undefined;
    },
  }),
  route({
    method: 'POST', path: '/scan/policies/:target/allow', tag: 'scanning', summary: 'Allow-list a vulnerability id until a date, with a reason',
    body: C.ScanAllowBody, response: C.ScanPolicyView, status: 201, needs: policyAdmin,
    async handle(c) {
      const until = Date.parse(c.body.until);
      if (!Number.isFinite(until) || until <= Date.now()) throw new BerthError('INPUT_INVALID', { message: 'until must be a date in the future (ISO 8601)' });
      await c.s.scanPolicies.allow(c.params.target, c.body.vulnId, until, c.body.reason, c.ctx);
      return toView(await c.s.scanPolicies.show(c.params.target));
    },
  }),
  route({
    method: 'DELETE', path: '/scan/policies/:target/allow/:vulnId', tag: 'scanning', summary: 'Take a vulnerability id off the allow-list', status: 204, needs: policyAdmin,
    async handle(c) {
      if (!(await c.s.scanPolicies.disallow(c.params.target, c.params.vulnId, c.ctx))) throw new BerthError('NOT_FOUND', { message: `${c.params.vulnId.slice(0, 100)} is not allow-listed on ${c.params.target.slice(0, 256)}` });
      return undefined;
    },
  }),
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
  route({
    method: 'GET', path: '/repositories/:name/manifests/:reference/vulnerabilities', tag: 'scanning',
    summary: "The image's findings: Berth's JSON, or Harbor's vulnerability report v1.1 (format=harbor, or that media type in Accept)",
    query: C.VulnerabilityQuery, needs: repo('pull'), produces: ['application/json', HARBOR_REPORT_MEDIA_TYPE],
    async handle(c) {
      const m = await c.s.manifests.head(c.params.name, parseReference(c.params.reference), undefined);
      const view = await c.s.scans.view(m.digest, true);
      if (!view.catalog) throw new BerthError('SCAN_PENDING', { message: `no catalogue of ${m.digest} yet (${view.state})` });
      if (!view.vulnerabilities) throw new BerthError('SCAN_PENDING', { message: 'no vulnerability database imported yet' });
      let findings = view.vulnerabilities.findings ?? [];
      if (c.query.severity) {
        const at = SEVERITIES.indexOf(c.query.severity);
        findings = findings.filter((f) => SEVERITIES.indexOf(f.severity) <= at);
      }
      const harbor = c.query.format === 'harbor' || (c.query.format === undefined && String(c.req.headers.accept ?? '').includes('application/vnd.security.vulnerability.report'));
      if (harbor) {
        const tag = 'tag' in parseReference(c.params.reference) ? c.params.reference : undefined;
        const body = harborReport(findings, { repository: c.params.name, digest: m.digest, tag, mediaType: m.mediaType }, { name: 'Berth', version: `${BERTH_VERSION} (${SCANNER})` }, new Date(view.vulnerabilities.matchedAt));
        return c.reply.code(200).header('Content-Type', HARBOR_REPORT_MEDIA_TYPE).send(JSON.stringify(body));
      }
      return c.reply.code(200).header('Content-Type', 'application/json').send(JSON.stringify({
        digest: m.digest, dbVersion: view.vulnerabilities.dbVersion, current: view.vulnerabilities.current, matchedAt: view.vulnerabilities.matchedAt,
        counts: view.vulnerabilities.counts, findings,
      }));
    },
  }),
];
