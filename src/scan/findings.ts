// Findings: what the vulnerability database says of a catalogued image, kept per manifest with the import
// count it was made at. A change of findings (a new image, a new record, a fix) is an audit record and a
// scan.completed event in each repository holding the image, in the transaction that saves them.
import type { Journal } from '../audit/journal.js';
import { SYSTEM_CONTEXT } from '../audit/journal.js';
import type { MetadataStore } from '../db/database.js';
import { repositoriesWithManifest } from '../db/scans.js';
import { candidates, findFindings, saveFindings, staleCatalogs, vulnDbVersion } from '../db/vulns.js';
import { ScanCompleted } from '../events/catalogue.js';
import type { Outbox } from '../events/outbox.js';
import type { ImageCatalog } from './image.js';
import { countBySeverity, matchCatalog, type Finding } from './matcher.js';

/** The job that matches stored catalogues again after an import. */
export const SCAN_REMATCH_JOB = 'scan.rematch';

export interface MatchOutcome { digest: string; findings: Finding[]; changed: boolean; added: string[]; removed: string[] }

const keyOf = (f: Finding) => `${f.id} ${f.package.purl} ${f.platform}`;

export class FindingsService {
  constructor(private readonly meta: MetadataStore, private readonly journal: Journal, private readonly outbox: Outbox) {}

  /** Matches a catalogue; without any import yet there is nothing to match against and nothing is saved. */
  async match(digest: string, catalog: ImageCatalog): Promise<MatchOutcome> {
    const version = await vulnDbVersion(this.meta.db);
    if (version === 0) return { digest, findings: [], changed: false, added: [], removed: [] };
    const findings = await matchCatalog(catalog, (keys) => candidates(this.meta.db, keys));
    const counts = countBySeverity(findings);
    return this.meta.transaction(async (tx) => {
      const prev = await findFindings(tx, digest);
      const before = new Set(prev ? (JSON.parse(prev.findings) as Finding[]).map(keyOf) : []);
      const now = new Set(findings.map(keyOf));
      const added = [...now].filter((k) => !before.has(k)).map((k) => k.split(' ')[0]!);
      const removed = [...before].filter((k) => !now.has(k)).map((k) => k.split(' ')[0]!);
      const changed = !prev || added.length > 0 || removed.length > 0;
      await saveFindings(tx, { digest, dbVersion: version, matchedAt: Date.now(), counts, findings: JSON.stringify(findings) });
      if (changed) {
        const data = { counts, added: [...new Set(added)].sort(), removed: [...new Set(removed)].sort(), dbVersion: version };
        for (const repository of await repositoriesWithManifest(tx, digest)) {
          await this.journal.write(tx, SYSTEM_CONTEXT, [{ action: 'scan.findings', resource: `repository:${repository}@${digest}`, detail: data }]);
          await this.outbox.append(tx, SYSTEM_CONTEXT, ScanCompleted({ repository, digest, mediaType: catalog.mediaType }, data));
        }
      }
      return { digest, findings, changed, added, removed };
    });
  }

  /** Matches again every catalogue whose findings predate the database's last import; returns how many. */
  async rematchStale(signal?: AbortSignal, progress?: (done: number) => void): Promise<{ matched: number; changed: number }> {
    const version = await vulnDbVersion(this.meta.db);
    if (version === 0) return { matched: 0, changed: 0 };
    let after: string | undefined;
    let matched = 0, changed = 0;
    for (;;) {
      signal?.throwIfAborted();
      const batch = await staleCatalogs(this.meta.db, version, after, 50);
      if (batch.length === 0) break;
      for (const c of batch) {
        signal?.throwIfAborted();
        const r = await this.match(c.digest, JSON.parse(c.catalog) as ImageCatalog);
        matched++;
        if (r.changed) changed++;
      }
      after = batch[batch.length - 1]!.digest;
      progress?.(matched);
    }
    return { matched, changed };
  }

  async findings(digest: string): Promise<{ dbVersion: number; matchedAt: number; counts: Record<string, number>; findings: Finding[] } | undefined> {
    const f = await findFindings(this.meta.db, digest);
    return f && { dbVersion: f.dbVersion, matchedAt: f.matchedAt, counts: { ...f.counts }, findings: JSON.parse(f.findings) as Finding[] };
  }
}
