// What the API and the CLI ask of scanning: a manifest's catalogue (or where its scan stands), a scan on
// demand, and SBOMs made from a stored catalogue.
import type { MetadataStore } from '../db/database.js';
import { enqueueScans, findCatalog, manifestsToCatalogue, queuedScan, type CatalogStatus } from '../db/scans.js';
import { findFindings, vulnDbVersion } from '../db/vulns.js';
import type { ImageCatalog } from './image.js';
import type { Finding } from './matcher.js';
import { cyclonedxSbom } from './sbom-cyclonedx.js';
import { spdxSbom } from './sbom-spdx.js';

export type ScanState = 'none' | 'queued' | 'scanning' | CatalogStatus;

export interface ScanView {
  digest: string;
  state: ScanState;
  /** a catalogue is kept while a new scan is queued or running: the last result stands */
  catalog?: ImageCatalog;
  scannedAt?: number;
  scanner?: string;
  durationMs?: number;
  bytesRead?: number;
  packages?: number;
  error?: string;
  queue?: { reason: string; queuedAt: number; attempts: number };
  /** what the vulnerability database says of it; absent before any import or before its first matching */
  vulnerabilities?: { dbVersion: number; current: boolean; matchedAt: number; counts: Record<string, number>; findings?: Finding[] };
}

export type SbomFormat = 'cyclonedx' | 'spdx';

export const SBOM_MEDIA_TYPES: Record<SbomFormat, string> = { cyclonedx: 'application/vnd.cyclonedx+json', spdx: 'application/spdx+json' };

export class ScanService {
  constructor(private readonly meta: MetadataStore, private readonly opts: { toolVersion: string; registry?: string }) {}

  async view(digest: string, withCatalog = true): Promise<ScanView> {
    const [row, queued] = await Promise.all([findCatalog(this.meta.db, digest), queuedScan(this.meta.db, digest)]);
    const view: ScanView = { digest, state: 'none' };
    if (row) {
      Object.assign(view, { state: row.status, scannedAt: row.scannedAt, scanner: row.scanner, durationMs: row.durationMs, bytesRead: row.bytesRead, packages: row.packages });
      if (row.error) view.error = row.error;
      if (withCatalog && row.catalog) view.catalog = JSON.parse(row.catalog) as ImageCatalog;
    }
    const [f, version] = await Promise.all([findFindings(this.meta.db, digest), vulnDbVersion(this.meta.db)]);
    if (f) {
      view.vulnerabilities = { dbVersion: f.dbVersion, current: f.dbVersion === version, matchedAt: f.matchedAt, counts: { ...f.counts } };
      if (withCatalog) view.vulnerabilities.findings = JSON.parse(f.findings) as Finding[];
    }
    if (queued) {
      view.state = queued.claimedUntil > Date.now() ? 'scanning' : 'queued';
      view.queue = { reason: queued.reason, queuedAt: queued.queuedAt, attempts: queued.attempts };
    }
    return view;
  }

  /** Queues the manifest (found in `repository`) to be scanned now; the last catalogue stands meanwhile. */
  async request(repository: string, digest: string, reason = 'request'): Promise<ScanView> {
    await this.meta.transaction((tx) => enqueueScans(tx, [{ digest, repository, reason }], Date.now(), true));
    return this.view(digest, false);
  }

  /** Queues every manifest not catalogued yet (`all`: every manifest), e.g. those pushed before scanning was on. */
  async requestAll(all = false): Promise<number> {
    let after: string | undefined;
    let n = 0;
    for (;;) {
      const batch = await manifestsToCatalogue(this.meta.db, after, 500, all);
      if (batch.length === 0) return n;
      await this.meta.transaction((tx) => enqueueScans(tx, batch.map((b) => ({ ...b, reason: 'scan all' })), Date.now()));
      n += batch.length;
      after = batch[batch.length - 1]!.digest;
    }
  }

  /**
   * An SBOM of an image manifest (`digest`, or for an index the platform manifest `platform` names by
   * digest), from its catalogue; undefined when there is none yet.
   */
  async sbom(repository: string, digest: string, format: SbomFormat, opts: { platform?: string; tags?: string[] } = {}): Promise<{ platform: string; document: string } | undefined> {
    const row = await findCatalog(this.meta.db, digest);
    if (!row || row.status !== 'done' || !row.catalog) return undefined;
    const catalog = JSON.parse(row.catalog) as ImageCatalog;
    const images = catalog.platforms.filter((p) => !p.skipped);
    const p = opts.platform ? images.find((x) => x.digest === opts.platform) : images[0];
    if (!p) return undefined;
    const subject = { repository, digest: p.digest, registry: this.opts.registry, tags: opts.tags };
    const o = { toolVersion: this.opts.toolVersion };
    return { platform: p.digest, document: format === 'cyclonedx' ? cyclonedxSbom(p, subject, o) : spdxSbom(p, subject, o) };
  }
}
