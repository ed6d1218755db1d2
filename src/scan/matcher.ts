// Matching a catalogue against the vulnerability database: each package is looked up by its OSV ecosystem
// and the name advisories file it under (Debian and Alpine by source package), and each candidate's
// affected entry is evaluated with the ecosystem's comparator. Records that name the same CVE (a Debian
// tracker entry, a DSA, an OSV record) are one finding per package with all their ids.
import type { FoundPackage } from './catalog/types.js';
import type { ImageCatalog, ImagePackage } from './image.js';
import { affects } from './versions/affects.js';
import { comparatorFor } from './versions/ecosystems.js';
import type { OsvAffected } from './versions/osv.js';
import { normalizePypiName } from './versions/pypi-name.js';

export type FindingSeverity = 'critical' | 'high' | 'medium' | 'low' | 'unknown';
export const SEVERITIES: readonly FindingSeverity[] = ['critical', 'high', 'medium', 'low', 'unknown'];

export interface Finding {
  /** the CVE when a record names one, else the record's id */
  id: string;
  /** every record id and alias merged into this finding */
  ids: string[];
  severity: FindingSeverity;
  score?: number;
  summary?: string;
  /** the image manifest (platform) it was found in */
  platform: string;
  package: { type: string; name: string; version: string; purl: string; ecosystem: string; layer: string; path: string; source?: string };
  /** the first version that fixes it, when a record says */
  fixedVersion?: string;
  /**
   * How sure: `exact` for a package manager's record of the version; `version-based` where a builder may
   * have patched without changing the version (a distribution's Go toolchain); `inferred` from names.
   */
  confidence: FoundPackage['confidence'];
  sources: string[];
}

export interface Candidate { ecosystem: string; name: string; affected: string; id: string; aliases: string[]; summary: string | null; severity: string; score: number | null; source: string }

/** Looks candidates up by (ecosystem, name); the database's `candidates`. */
export type CandidateLookup = (keys: { ecosystem: string; name: string }[]) => Promise<Candidate[]>;

/** The name and version advisories use for a package, in its ecosystem. */
export function matchKey(p: ImagePackage): { ecosystem: string; name: string; version: string } | undefined {
  if (!p.ecosystem) return undefined;
  switch (p.type) {
    case 'deb': case 'apk':
      return { ecosystem: p.ecosystem, name: p.source?.name ?? p.name, version: p.source?.version ?? p.version };
    case 'npm': return { ecosystem: p.ecosystem, name: p.namespace ? `${p.namespace}/${p.name}` : p.name, version: p.version };
    case 'pypi': return { ecosystem: p.ecosystem, name: normalizePypiName(p.name), version: p.version };
    case 'golang': return { ecosystem: p.ecosystem, name: p.namespace ? `${p.namespace}/${p.name}` : p.name, version: p.version };
    case 'maven': return { ecosystem: p.ecosystem, name: p.namespace ? `${p.namespace}:${p.name}` : p.name, version: p.version };
    default: return { ecosystem: p.ecosystem, name: p.name, version: p.version };
  }
}

const RANK: Record<FindingSeverity, number> = { critical: 4, high: 3, medium: 2, low: 1, unknown: 0 };

export async function matchCatalog(catalog: ImageCatalog, lookup: CandidateLookup): Promise<Finding[]> {
  const packages = catalog.platforms.flatMap((pl) => pl.packages.map((p) => ({ platform: pl.digest, p, key: matchKey(p) })));
  const keys = packages.flatMap((x) => (x.key ? [{ ecosystem: x.key.ecosystem, name: x.key.name }] : []));
  const byKey = new Map<string, Candidate[]>();
  for (const c of await lookup(keys)) {
    const k = `${c.ecosystem}\0${c.name}`;
    byKey.set(k, [...(byKey.get(k) ?? []), c]);
  }
  const findings = new Map<string, Finding>();
  for (const { platform, p, key } of packages) {
    if (!key) continue;
    const cands = byKey.get(`${key.ecosystem}\0${key.name}`);
    if (!cands) continue;
    const cmp = comparatorFor(key.ecosystem);
    for (const c of cands) {
      const affected = JSON.parse(c.affected) as OsvAffected;
      if (!affects(affected, key.version, cmp)) continue;
      const group = [c.id, ...c.aliases].filter((x) => x.startsWith('CVE-')).sort()[0] ?? c.id;
      const fk = `${platform}\0${p.purl}\0${p.path}\0${group}`;
      const severity = (SEVERITIES as readonly string[]).includes(c.severity) ? c.severity as FindingSeverity : 'unknown';
      const fixed = fixedAfter(affected, key.version, cmp?.compare);
      const seen = findings.get(fk);
      if (seen) {
        seen.ids = [...new Set([...seen.ids, c.id, ...c.aliases])].sort();
        seen.sources = [...new Set([...seen.sources, c.source])].sort();
        if (RANK[severity] > RANK[seen.severity]) { seen.severity = severity; if (c.score !== null) seen.score = c.score; }
        seen.fixedVersion ??= fixed;
        seen.summary ??= c.summary ?? undefined;
        continue;
      }
      findings.set(fk, {
        id: group, ids: [...new Set([c.id, ...c.aliases])].sort(), severity, ...(c.score !== null ? { score: c.score } : {}),
        ...(c.summary ? { summary: c.summary } : {}), platform,
        package: { type: p.type, name: p.name, version: p.version, purl: p.purl, ecosystem: key.ecosystem, layer: p.layer, path: p.path, ...(p.source ? { source: p.source.name } : {}) },
        ...(fixed ? { fixedVersion: fixed } : {}), confidence: p.confidence, sources: [c.source],
      });
    }
  }
  return [...findings.values()].sort((a, b) => RANK[b.severity] - RANK[a.severity] || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) || (a.package.purl < b.package.purl ? -1 : 1));
}

/** The lowest `fixed` event above the installed version, in the entry's ranges. */
function fixedAfter(a: OsvAffected, version: string, compare?: (x: string, y: string) => number): string | undefined {
  if (!compare) return undefined;
  let best: string | undefined;
  for (const r of a.ranges ?? []) {
    for (const e of r.events) {
      if (e.fixed === undefined) continue;
      let above: boolean;
      try { above = compare(e.fixed, version) > 0; } catch { continue; }
      if (above && (best === undefined || compare(e.fixed, best) < 0)) best = e.fixed;
    }
  }
  return best;
}

export function countBySeverity(findings: readonly Finding[]): Record<FindingSeverity, number> {
  const out: Record<FindingSeverity, number> = { critical: 0, high: 0, medium: 0, low: 0, unknown: 0 };
  for (const f of findings) out[f.severity]++;
  return out;
}
