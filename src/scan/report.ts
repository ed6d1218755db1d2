// Vulnerability reports of an image: Harbor's format (pluggable scanner spec, "application/vnd.security.
// vulnerability.report; version=1.1"), so tools written for Harbor read Berth's; and rows for a table.
import type { Finding, FindingSeverity } from './matcher.js';

export const HARBOR_REPORT_MEDIA_TYPE = 'application/vnd.security.vulnerability.report; version=1.1';

type HarborSeverity = 'Unknown' | 'Negligible' | 'Low' | 'Medium' | 'High' | 'Critical';
const HARBOR: Record<FindingSeverity, HarborSeverity> = { critical: 'Critical', high: 'High', medium: 'Medium', low: 'Low', unknown: 'Unknown' };
const ORDER: HarborSeverity[] = ['Unknown', 'Negligible', 'Low', 'Medium', 'High', 'Critical'];

/** Where each kind of id is described (links in reports and the UI). */
export function linkFor(id: string): string | undefined {
  if (id.startsWith('CVE-')) return `https://nvd.nist.gov/vuln/detail/${id}`;
  if (id.startsWith('GHSA-')) return `https://github.com/advisories/${id}`;
  if (id.startsWith('GO-')) return `https://pkg.go.dev/vuln/${id}`;
  if (/^(DSA|DLA)-/.test(id)) return `https://security-tracker.debian.org/tracker/${id}`;
  if (id.startsWith('PYSEC-')) return `https://osv.dev/vulnerability/${id}`;
  return undefined;
}

export interface ReportSubject { repository: string; digest: string; tag?: string; mediaType: string }

export function harborReport(findings: readonly Finding[], subject: ReportSubject, scanner: { name: string; version: string }, generatedAt: Date): Record<string, unknown> {
  const vulnerabilities = findings.map((f) => {
    const links = [...new Set(f.ids.map(linkFor).filter((x): x is string => x !== undefined))];
    return {
      id: f.id,
      package: f.package.name,
      version: f.package.version,
      ...(f.fixedVersion ? { fix_version: f.fixedVersion } : {}),
      severity: HARBOR[f.severity],
      description: f.summary ?? '',
      links,
      ...(f.score !== undefined ? { preferred_cvss: { score_v3: f.score } } : {}),
      vendor_attributes: {
        ids: f.ids, purl: f.package.purl, layer: f.package.layer, path: f.package.path, confidence: f.confidence, sources: f.sources,
        ...(f.package.source ? { sourcePackage: f.package.source } : {}), platform: f.platform,
      },
    };
  });
  const worst = vulnerabilities.reduce<HarborSeverity>((w, v) => (ORDER.indexOf(v.severity) > ORDER.indexOf(w) ? v.severity : w), 'Unknown');
  return {
    generated_at: generatedAt.toISOString(),
    artifact: { repository: subject.repository, digest: subject.digest, ...(subject.tag ? { tag: subject.tag } : {}), mime_type: subject.mediaType },
    scanner: { name: scanner.name, vendor: 'Berth', version: scanner.version },
    // The spec's scale has no 'none': without findings the field is left out.
    ...(vulnerabilities.length > 0 ? { severity: worst } : {}),
    vulnerabilities,
  };
}

export function reportRows(findings: readonly Finding[]): string[][] {
  return findings.map((f) => [f.severity.toUpperCase(), f.id, `${f.package.name} ${f.package.version}`, f.fixedVersion ?? '-', f.confidence === 'exact' ? '' : f.confidence, f.ids.filter((i) => i !== f.id).join(' ')]);
}

export const REPORT_HEADERS = ['SEVERITY', 'ID', 'PACKAGE', 'FIXED IN', 'CONFIDENCE', 'ALSO'];
