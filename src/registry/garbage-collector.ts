// Garbage collection: unlinks blobs no manifest references, removes blobs no repository links, and
// purges expired uploads. Safe while pushes go on: rows touched and files written within the grace
// period are spared, and each removal re-checks inside a transaction; publishing re-checks its file
// inside its own transaction, so a concurrent upload either keeps its blob or fails, never half-done.
import { randomBytes } from 'node:crypto';
import type { MetadataStore } from '../db/database.js';
import { readCursor, setCursor } from '../db/cursors.js';
import {
  allBlobLinks, blobRowExists, blobsOlderThan, deleteExpiredUploads, expiredUploadsPage,
  knownBlobDigests, orphanBlobsPage, unreferencedLinksPage, uploadIds, type BlobLinkKey,
} from '../db/gc.js';
import { parseDigest } from '../oci/digest.js';
import { GcReviewer } from './gc-reviewer.js';
import { lockDigest } from '../db/gc-review.js';
import type { StorageDriver } from '../storage/driver.js';
import { BLOBS_PREFIX, blobPath, TRASH_PREFIX, UPLOADS_PREFIX, uploadPath } from './paths.js';

export interface GcOptions {
  dryRun?: boolean;
  graceSeconds: number;
  uploadExpirySeconds: number;
  progress?: (msg: string, fields: Record<string, unknown>) => void;
  /** stops the run between batches (it then rejects with the signal's reason) */
  signal?: AbortSignal;
  /** rows per transaction (default 500) */
  batchSize?: number;
  /**
   * Walks every stored file for orphans (step 4) only when the last walk is older than this; undefined:
   * always. The rest of a run costs what there is to collect, the walk what is stored.
   */
  sweepFilesEveryMs?: number;
}

/** When the last walk for orphaned files finished (ms), in the cursors table: any process's runs count. */
const SWEPT_AT = 'gc:files-swept-at';

/** Rows removed per transaction: one durable commit for a few hundred removals, short enough not to hold pushes up. */
const BATCH = 500;

export interface GcReport {
  dryRun: boolean;
  unlinked: number;
  blobsRemoved: number;
  bytesRemoved: number;
  uploadsRemoved: number;
  uploadBytesRemoved: number;
  orphanFilesRemoved: number;
  orphanBytesRemoved: number;
  /** writes a killed process left unfinished on an object store (incomplete multipart uploads), given up */
  abandonedWrites: number;
  /** whether this run walked every stored file for orphans (see sweepFilesEveryMs) */
  filesSwept: boolean;
  durationMs: number;
}

export class GarbageCollector {
  // The scan's removals are the review queue's locked ones (the cutoff is the scan's own).
  private readonly reviewer: GcReviewer;

  constructor(private readonly meta: MetadataStore, private readonly store: StorageDriver) {
    this.reviewer = new GcReviewer(meta, store, 0);
  }

  /** Puts back blobs that a collection moved aside but whose removal did not commit. */
  async recoverTrash(): Promise<void> {
    for await (const entry of this.store.list(TRASH_PREFIX)) {
      const m = /^trash\/([a-z0-9]+)-([a-f0-9]+)-[a-f0-9]+$/.exec(entry.path);
      const d = m ? parseDigest(`${m[1]}:${m[2]}`) : null;
      if (!d || typeof d !== 'object') { await this.store.delete(entry.path); continue; }
      await this.meta.transaction(async (tx) => {
        const known = await blobRowExists(tx, d.digest);
        if (known && !(await this.store.stat(blobPath(d)))) await this.store.move(entry.path, blobPath(d));
        else await this.store.delete(entry.path);
      });
    }
  }

  async run(opts: GcOptions): Promise<GcReport> {
    const started = Date.now();
    const dryRun = opts.dryRun ?? false;
    const cutoff = started - opts.graceSeconds * 1000;
    const progress = opts.progress ?? (() => undefined);
    const signal = opts.signal;
    const batchSize = Math.max(1, opts.batchSize ?? BATCH);
    const report: GcReport = { dryRun, unlinked: 0, blobsRemoved: 0, bytesRemoved: 0, uploadsRemoved: 0, uploadBytesRemoved: 0, orphanFilesRemoved: 0, orphanBytesRemoved: 0, abandonedWrites: 0, filesSwept: false, durationMs: 0 };
    const db = this.meta.db;
    // Between batches: stop when asked to (the process is stopping), and let requests run.
    const pause = async () => {
      signal?.throwIfAborted();
      await yieldToRequests();
      signal?.throwIfAborted();
    };
    signal?.throwIfAborted();
    if (!dryRun) await this.recoverTrash();

    // 1. Links from a repository to a blob that none of its manifests reference, a batch per transaction.
    // The deletion re-checks both conditions, so a link touched (pushed, mounted, checked) meanwhile stays.
    const dryLinks = new Set<string>();
    let lastLink: BlobLinkKey | undefined;
    let reported = 0;
    for (;;) {
      const batch = await unreferencedLinksPage(db, cutoff, lastLink, batchSize);
      if (batch.length === 0) break;
      lastLink = batch[batch.length - 1];
      if (dryRun) {
        for (const l of batch) dryLinks.add(`${l.repository_id} ${l.digest}`);
        report.unlinked += batch.length;
      } else {
        report.unlinked += await this.reviewer.removeLinks(batch.map((l) => ({ repositoryId: Number(l.repository_id), digest: l.digest })), cutoff);
      }
      if (report.unlinked - reported >= 1000) {
        reported = report.unlinked;
        progress(dryRun ? 'gc: finding unreferenced blob links' : 'gc: unlinking unreferenced blobs from repositories', { links: report.unlinked });
      }
      if (batch.length < batchSize) break;
      await pause();
    }
    // A dry run removes nothing, and its progress says so.
    progress(dryRun ? 'gc: would unlink unreferenced blobs from repositories' : 'gc: unlinked unreferenced blobs from repositories', { links: report.unlinked });
    await pause();

    // 2. Blobs that no repository links any more.
    reported = 0;
    if (dryRun) {
      // Also count blobs whose last links step 1 would remove.
      const remaining = await allBlobLinks(db);
      const stillLinked = new Set(remaining.filter((r) => !dryLinks.has(`${r.repository_id} ${r.digest}`)).map((r) => r.digest));
      const all = await blobsOlderThan(db, cutoff);
      for (const b of all) {
        if (stillLinked.has(b.digest) || typeof parseDigest(b.digest) !== 'object') continue;
        report.blobsRemoved++;
        report.bytesRemoved += Number(b.size);
      }
    } else {
      const token = randomBytes(6).toString('hex');
      let lastDigest: string | undefined;
      for (;;) {
        const batch = await orphanBlobsPage(db, cutoff, lastDigest, batchSize);
        if (batch.length === 0) break;
        lastDigest = batch[batch.length - 1].digest;
        const removed = await this.reviewer.removeBlobs(batch.map((c) => c.digest), cutoff, token);
        for (const r of removed) { report.blobsRemoved++; report.bytesRemoved += r.size; }
        if (report.blobsRemoved - reported >= 1000) {
          reported = report.blobsRemoved;
          progress('gc: removing unreferenced blobs', { blobs: report.blobsRemoved, bytes: report.bytesRemoved });
        }
        if (batch.length < batchSize) break;
        await pause();
      }
    }
    progress(dryRun ? 'gc: would remove unreferenced blobs' : 'gc: removed unreferenced blobs', { blobs: report.blobsRemoved, bytes: report.bytesRemoved });
    await pause();

    // 3. Upload sessions idle past their expiry, a batch per transaction.
    const expiry = started - opts.uploadExpirySeconds * 1000;
    let lastUpload: string | undefined;
    for (;;) {
      const batch = await expiredUploadsPage(db, expiry, lastUpload, batchSize);
      if (batch.length === 0) break;
      lastUpload = batch[batch.length - 1].id;
      const gone = dryRun ? batch : await this.meta.transaction((tx) => deleteExpiredUploads(tx, batch.map((u) => u.id), expiry));
      for (const u of gone) {
        if (!dryRun) await this.store.delete(uploadPath(u.id));
        report.uploadsRemoved++;
        report.uploadBytesRemoved += Number(u.size);
      }
      if (batch.length < batchSize) break;
      await pause();
    }
    progress(dryRun ? 'gc: would remove expired uploads' : 'gc: removed expired uploads', { uploads: report.uploadsRemoved, bytes: report.uploadBytesRemoved });
    // Writes begun before the upload expiry and never finished: no live request writes that long.
    if (!dryRun && this.store.abandonWritesBefore) {
      report.abandonedWrites = await this.store.abandonWritesBefore(new Date(expiry));
      if (report.abandonedWrites > 0) progress('gc: gave up unfinished writes', { writes: report.abandonedWrites });
    }
    await pause();

    // 4. Files no row accounts for: uploads cut off by a crash, blobs whose publication did not commit.
    const sweptAt = opts.sweepFilesEveryMs === undefined ? undefined : await readCursor(db, SWEPT_AT);
    if (sweptAt !== undefined && started - sweptAt < opts.sweepFilesEveryMs!) {
      report.durationMs = Date.now() - started;
      return report;
    }
    report.filesSwept = true;
    const sessions = new Set(await uploadIds(db));
    let seen = 0;
    for await (const f of this.store.list(UPLOADS_PREFIX)) {
      if (++seen % batchSize === 0) await pause();
      const id = f.path.split('/')[1];
      if (sessions.has(id) || f.modifiedAt.getTime() >= expiry) continue;
      if (!dryRun) await this.store.delete(f.path);
      report.orphanFilesRemoved++;
      report.orphanBytesRemoved += f.size;
    }
    let files: { path: string; size: number; digest: string | null }[] = [];
    const sweep = async () => {
      const batch = files;
      files = [];
      const named = batch.filter((f) => f.digest !== null).map((f) => f.digest!);
      const known = await knownBlobDigests(db, named);
      const orphans = batch.filter((f) => f.digest === null || !known.has(f.digest));
      if (orphans.length === 0) return;
      if (dryRun) {
        for (const f of orphans) { report.orphanFilesRemoved++; report.orphanBytesRemoved += f.size; }
        return;
      }
      // Deleted inside a transaction, after looking again: a publication looks at its file and commits its
      // row under the same lock (the write lock on SQLite, the digest's lock on PostgreSQL).
      const removed = await this.meta.transaction(async (tx) => {
        const digests = orphans.filter((f) => f.digest !== null).map((f) => f.digest!);
        for (const d of [...new Set(digests)].sort()) await lockDigest(tx, this.meta.dialect, d);
        const again = await knownBlobDigests(tx, digests);
        const out: typeof orphans = [];
        for (const f of orphans) {
          if (f.digest !== null && again.has(f.digest)) continue;
          await this.store.delete(f.path);
          out.push(f);
        }
        return out;
      });
      for (const f of removed) { report.orphanFilesRemoved++; report.orphanBytesRemoved += f.size; }
    };
    for await (const f of this.store.list(BLOBS_PREFIX)) {
      if (f.modifiedAt.getTime() >= cutoff) continue;
      const m = /^blobs\/([a-z0-9]+)\/[a-f0-9]{2}\/([a-f0-9]+)$/.exec(f.path);
      files.push({ path: f.path, size: f.size, digest: m ? `${m[1]}:${m[2]}` : null });
      if (files.length >= batchSize) {
        await sweep();
        await pause();
      }
    }
    await sweep();
    if (!dryRun) await this.meta.relaxed((tx) => setCursor(tx, SWEPT_AT, Date.now()));
    progress(dryRun ? 'gc: would remove orphaned files' : 'gc: removed orphaned files', { files: report.orphanFilesRemoved, bytes: report.orphanBytesRemoved });
    report.durationMs = Date.now() - started;
    return report;
  }
}

/** Lets queued I/O callbacks (requests) run before the next batch. */
function yieldToRequests(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
