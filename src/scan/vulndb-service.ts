// The vulnerability database as operators handle it: import bundles (checked first against the keys they
// trust), see what is on file and how old it is. A file bundle is copied where only Berth writes before it
// is checked, so the bytes imported are the bytes verified.
import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { RequestContext } from '../audit/journal.js';
import type { MetadataStore } from '../db/database.js';
import { vulnCounts, vulnDbVersion, vulnSources } from '../db/vulns.js';
import { readVulnSource } from './vulndb/read-vuln-source.js';
import { verifyBundle, type BundleVerification } from './vulndb/verify-bundle.js';
import { VulnDbImporter, type ImportItem, type ImportReport } from './vulndb-import.js';
import type { Journal } from '../audit/journal.js';

export interface VulnDbOptions { trustedKeyFiles: string[]; requireSignature: boolean; maxAgeDays: number; tmpDir: string }

export interface VulnDbStatus {
  dbVersion: number;
  records: number;
  withdrawn: number;
  packages: number;
  sources: { name: string; records: number; newestModified: string | null; importedAt: number; file: string; verified: string }[];
  /** the last import, and whether it is older than vulndb.maxAge */
  lastImportAt: number | null;
  outOfDate: boolean;
  maxAgeDays: number;
}

export class VulnDbService {
  private readonly importer: VulnDbImporter;

  constructor(private readonly meta: MetadataStore, journal: Journal, private readonly opts: VulnDbOptions) {
    this.importer = new VulnDbImporter(meta, journal);
  }

  /** Imports the bundles (files or directories) as one transaction: all of them or none. */
  async import(paths: string[], ctx: RequestContext, signal?: AbortSignal): Promise<ImportReport & { verifications: (BundleVerification & { file: string })[] }> {
    const keys = await Promise.all(this.opts.trustedKeyFiles.map((f) => readFile(f, 'utf8')));
    await mkdir(this.opts.tmpDir, { recursive: true });
    const work = await mkdtemp(path.join(this.opts.tmpDir, 'vulndb-'));
    try {
      const checked: { file: string; read: string; v: BundleVerification }[] = [];
      for (const p of paths) {
        let read = p;
        if ((await stat(p)).isFile()) {
          read = path.join(work, `${checked.length}-${path.basename(p)}`);
          await copyFile(p, read);
          for (const side of ['.sig', '.sha256', '.pub']) await copyFile(`${p}${side}`, `${read}${side}`).catch(() => undefined);
        }
        const v = await verifyBundle(read, { keys, requireSignature: this.opts.requireSignature });
        checked.push({ file: p, read, v });
      }
      async function* all(): AsyncGenerator<ImportItem> {
        for (const c of checked) for await (const item of readVulnSource(c.read, { signal })) yield item;
      }
      const verified = checked.map((c) => c.v.verified === 'signature' ? `signature ${c.v.keyFingerprint}` : c.v.verified).join(', ');
      const report = await this.importer.import(all(), { file: paths.join(', '), verified, ctx });
      return { ...report, verifications: checked.map((c) => ({ file: c.file, ...c.v })) };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  async status(now = Date.now()): Promise<VulnDbStatus> {
    const [counts, sources, dbVersion] = await Promise.all([vulnCounts(this.meta.db), vulnSources(this.meta.db), vulnDbVersion(this.meta.db)]);
    const lastImportAt = sources.length > 0 ? Math.max(...sources.map((s) => s.importedAt)) : null;
    return {
      dbVersion, ...counts, sources, lastImportAt, maxAgeDays: this.opts.maxAgeDays,
      outOfDate: lastImportAt === null || now - lastImportAt > this.opts.maxAgeDays * 86_400_000,
    };
  }
}
