// Importing vulnerability records: whatever the source, records arrive in OSV's shape; each is stored
// whole with its severity worked out once (CVSS v4, else v3, else the source's own rating) and indexed by
// the packages it affects. All of an import is one transaction: it lands whole or not at all, and a
// repeated import replaces records by id.
import type { Journal, RequestContext } from '../audit/journal.js';
import type { MetadataStore } from '../db/database.js';
import { bumpVulnDbVersion, saveVulnSource, upsertVulns, type VulnPackageRow, type VulnRow } from '../db/vulns.js';
import { osvCvssSeverity } from './versions/cvss.js';
import type { OsvRecord } from './versions/osv.js';
import { normalizePypiName } from './versions/pypi-name.js';
import type { FindingSeverity } from './matcher.js';

export interface ImportItem { source: string; record: OsvRecord }

export interface ImportReport {
  records: number;
  withdrawn: number;
  packages: number;
  sources: { name: string; records: number; newestModified: string | null }[];
  dbVersion: number;
  durationMs: number;
}

/** Records held in memory before the one transaction: beyond this an import is refused (split it). */
const MAX_RECORDS = 2_000_000;

export class VulnDbImporter {
  constructor(private readonly meta: MetadataStore, private readonly journal: Journal) {}

  async import(items: AsyncIterable<ImportItem>, opts: { file: string; verified: string; ctx: RequestContext }): Promise<ImportReport> {
    const started = Date.now();
    const rows: VulnRow[] = [];
    const packages: VulnPackageRow[] = [];
    const bySource = new Map<string, { records: number; newestModified: string | null }>();
    const seen = new Map<string, number>();
    let withdrawn = 0;
    for await (const { source, record } of items) {
      if (rows.length >= MAX_RECORDS) throw new Error(`more than ${MAX_RECORDS} records in one import: import the sources one at a time`);
      const row = toRow(source, record);
      // The same id twice in one import: the later one stands.
      const at = seen.get(row.id);
      if (at !== undefined) rows[at] = row; else { seen.set(row.id, rows.length); rows.push(row); }
      if (row.withdrawn) withdrawn++;
      const s = bySource.get(source) ?? { records: 0, newestModified: null };
      s.records++;
      if (record.modified && (s.newestModified === null || record.modified > s.newestModified)) s.newestModified = record.modified;
      bySource.set(source, s);
    }
    const live = new Set(rows.filter((r) => !r.withdrawn).map((r) => r.id));
    for (const r of rows) {
      if (!live.has(r.id)) continue;
      const record = JSON.parse(r.record) as OsvRecord;
      for (const a of record.affected ?? []) {
        if (!a.package?.ecosystem || !a.package.name) continue;
        const name = a.package.ecosystem === 'PyPI' ? normalizePypiName(a.package.name) : a.package.name;
        packages.push({ vulnId: r.id, ecosystem: a.package.ecosystem, name, affected: JSON.stringify(a) });
      }
    }
    const importedAt = Date.now();
    const dbVersion = await this.meta.transaction(async (tx) => {
      await upsertVulns(tx, rows, packages);
      for (const [name, s] of bySource) await saveVulnSource(tx, { name, records: s.records, newestModified: s.newestModified, importedAt, file: opts.file, verified: opts.verified });
      const version = await bumpVulnDbVersion(tx);
      await this.journal.write(tx, opts.ctx, [{
        action: 'vulndb.import', resource: 'system:vulndb',
        detail: { file: opts.file, verified: opts.verified, records: rows.length, withdrawn, sources: [...bySource.keys()], dbVersion: version },
      }]);
      return version;
    });
    return {
      records: rows.length, withdrawn, packages: packages.length, dbVersion, durationMs: Date.now() - started,
      sources: [...bySource].map(([name, s]) => ({ name, ...s })),
    };
  }
}

const OWN_RATINGS: Record<string, FindingSeverity> = {
  critical: 'critical', high: 'high', important: 'high', moderate: 'medium', medium: 'medium', low: 'low', negligible: 'low', unimportant: 'low',
};

/** Severity from the record's CVSS vectors (v4, else v3; the record's, else its affected entries'), else the source's rating. */
export function severityOf(record: OsvRecord): { severity: FindingSeverity; score: number | null } {
  const cvss = osvCvssSeverity(record.severity) ?? (record.affected ?? []).map((a) => osvCvssSeverity(a.severity)).find((x) => x !== undefined);
  if (cvss) return { severity: cvss.severity === 'none' ? 'low' : cvss.severity, score: cvss.score };
  const own = [record.database_specific?.severity, ...(record.affected ?? []).map((a) => a.database_specific?.severity ?? a.ecosystem_specific?.severity ?? a.ecosystem_specific?.urgency)]
    .find((x): x is string => typeof x === 'string' && OWN_RATINGS[x.toLowerCase()] !== undefined);
  return { severity: own ? OWN_RATINGS[own.toLowerCase()]! : 'unknown', score: null };
}

function toRow(source: string, r: OsvRecord): VulnRow {
  const { severity, score } = severityOf(r);
  return {
    id: r.id, source, modified: r.modified, withdrawn: r.withdrawn ?? null, aliases: [...new Set(r.aliases ?? [])].filter((a) => a !== r.id),
    summary: r.summary ?? (r.details ? r.details.slice(0, 300) : null), severity, score, record: JSON.stringify(r),
  };
}
