// Garbage collection: unlinks blobs no manifest references, removes blobs no repository links, and
// purges expired uploads. Safe while pushes go on: rows touched and files written within the grace
// period are spared, and each removal re-checks inside a transaction; publishing re-checks its file
// inside its own transaction, so a concurrent upload either keeps its blob or fails, never half-done.
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Db, MetadataStore } from '../db/database.js';
import { parseDigest, type ParsedDigest } from '../oci/digest.js';
import type { StorageDriver } from '../storage/driver.js';
import { BLOBS_PREFIX, blobPath, TRASH_PREFIX, trashPath, UPLOADS_PREFIX, uploadPath } from './paths.js';

export interface GcOptions {
  dryRun?: boolean;
  graceSeconds: number;
  uploadExpirySeconds: number;
  progress?: (msg: string, fields: Record<string, unknown>) => void;
  /** stops the run between batches (it then rejects with the signal's reason) */
  signal?: AbortSignal;
  /** rows per transaction (default 500) */
  batchSize?: number;
}

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
  durationMs: number;
}

export class GarbageCollector {
  constructor(private readonly meta: MetadataStore, private readonly store: StorageDriver) {}

  /** Puts back blobs that a collection moved aside but whose removal did not commit. */
  async recoverTrash(): Promise<void> {
    for await (const entry of this.store.list(TRASH_PREFIX)) {
      const m = /^trash\/([a-z0-9]+)-([a-f0-9]+)-[a-f0-9]+$/.exec(entry.path);
      const d = m ? parseDigest(`${m[1]}:${m[2]}`) : null;
      if (!d || typeof d !== 'object') { await this.store.delete(entry.path); continue; }
      await this.meta.transaction(async (tx) => {
        const row = await tx.selectFrom('blobs').select('size').where('digest', '=', d.digest).executeTakeFirst();
        if (row && !(await this.store.stat(blobPath(d)))) await this.store.move(entry.path, blobPath(d));
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
    const report: GcReport = { dryRun, unlinked: 0, blobsRemoved: 0, bytesRemoved: 0, uploadsRemoved: 0, uploadBytesRemoved: 0, orphanFilesRemoved: 0, orphanBytesRemoved: 0, durationMs: 0 };
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
    const unreferenced = (qb: typeof db) => qb.selectFrom('repository_blobs as rb').select(['rb.repository_id', 'rb.digest'])
      .where('rb.touched_at', '<', cutoff)
      .where((eb) => eb.not(eb.exists(eb.selectFrom('manifest_blobs as mb').select(sql`1`.as('one'))
        .whereRef('mb.repository_id', '=', 'rb.repository_id').whereRef('mb.digest', '=', 'rb.digest'))));
    const dryLinks = new Set<string>();
    let lastLink: { repository_id: number; digest: string } | undefined;
    let reported = 0;
    for (;;) {
      const after = lastLink;
      const batch = await unreferenced(db)
        .$if(after !== undefined, (q) => q.where((eb) => eb.or([eb('rb.repository_id', '>', after!.repository_id),
          eb.and([eb('rb.repository_id', '=', after!.repository_id), eb('rb.digest', '>', after!.digest)])])))
        .orderBy('rb.repository_id').orderBy('rb.digest').limit(batchSize).execute();
      if (batch.length === 0) break;
      lastLink = batch[batch.length - 1];
      if (dryRun) {
        for (const l of batch) dryLinks.add(`${l.repository_id} ${l.digest}`);
        report.unlinked += batch.length;
      } else {
        const byRepository = new Map<number, string[]>();
        for (const l of batch) byRepository.set(Number(l.repository_id), [...(byRepository.get(Number(l.repository_id)) ?? []), l.digest]);
        const res = await this.meta.transaction((tx) => tx.deleteFrom('repository_blobs')
          .where((eb) => eb.or([...byRepository].map(([id, digests]) => eb.and([eb('repository_id', '=', id), eb('digest', 'in', digests)]))))
          .where('touched_at', '<', cutoff)
          .where((eb) => eb.not(eb.exists(eb.selectFrom('manifest_blobs as mb').select(sql`1`.as('one'))
            .whereRef('mb.repository_id', '=', 'repository_blobs.repository_id').whereRef('mb.digest', '=', 'repository_blobs.digest'))))
          .executeTakeFirst());
        report.unlinked += Number(res.numDeletedRows);
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
      const remaining = await db.selectFrom('repository_blobs').select(['repository_id', 'digest']).execute();
      const stillLinked = new Set(remaining.filter((r) => !dryLinks.has(`${r.repository_id} ${r.digest}`)).map((r) => r.digest));
      const all = await db.selectFrom('blobs').select(['digest', 'size']).where('touched_at', '<', cutoff).execute();
      for (const b of all) {
        if (stillLinked.has(b.digest) || typeof parseDigest(b.digest) !== 'object') continue;
        report.blobsRemoved++;
        report.bytesRemoved += Number(b.size);
      }
    } else {
      const token = randomBytes(6).toString('hex');
      let lastDigest: string | undefined;
      for (;;) {
        const after = lastDigest;
        const batch = await orphanBlobs(db, cutoff).$if(after !== undefined, (q) => q.where('b.digest', '>', after!)).orderBy('b.digest').limit(batchSize).execute();
        if (batch.length === 0) break;
        lastDigest = batch[batch.length - 1].digest;
        const removed = await this.removeBlobs(batch.map((c) => c.digest), cutoff, token);
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
      const after = lastUpload;
      const batch = await db.selectFrom('uploads').select(['id', 'size']).where('updated_at', '<', expiry)
        .$if(after !== undefined, (q) => q.where('id', '>', after!)).orderBy('id').limit(batchSize).execute();
      if (batch.length === 0) break;
      lastUpload = batch[batch.length - 1].id;
      const gone = dryRun ? batch : await this.meta.transaction((tx) => tx.deleteFrom('uploads').where('id', 'in', batch.map((u) => u.id))
        .where('updated_at', '<', expiry).returning(['id', 'size']).execute());
      for (const u of gone) {
        if (!dryRun) await this.store.delete(uploadPath(u.id));
        report.uploadsRemoved++;
        report.uploadBytesRemoved += Number(u.size);
      }
      if (batch.length < batchSize) break;
      await pause();
    }
    progress(dryRun ? 'gc: would remove expired uploads' : 'gc: removed expired uploads', { uploads: report.uploadsRemoved, bytes: report.uploadBytesRemoved });
    await pause();

    // 4. Files no row accounts for: uploads cut off by a crash, blobs whose publication did not commit.
    const sessions = new Set((await db.selectFrom('uploads').select('id').execute()).map((r) => r.id));
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
      const known = new Set(named.length ? (await db.selectFrom('blobs').select('digest').where('digest', 'in', named).execute()).map((r) => r.digest) : []);
      const orphans = batch.filter((f) => f.digest === null || !known.has(f.digest));
      if (orphans.length === 0) return;
      if (dryRun) {
        for (const f of orphans) { report.orphanFilesRemoved++; report.orphanBytesRemoved += f.size; }
        return;
      }
      // Deleted inside a transaction, after looking again: a publication commits its row under the same lock.
      const removed = await this.meta.transaction(async (tx) => {
        const digests = orphans.filter((f) => f.digest !== null).map((f) => f.digest!);
        const again = new Set(digests.length ? (await tx.selectFrom('blobs').select('digest').where('digest', 'in', digests).execute()).map((r) => r.digest) : []);
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
    progress(dryRun ? 'gc: would remove orphaned files' : 'gc: removed orphaned files', { files: report.orphanFilesRemoved, bytes: report.orphanBytesRemoved });
    report.durationMs = Date.now() - started;
    return report;
  }

  /**
   * Removes the blobs of one batch that are still unreferenced and old, in one transaction: each file is
   * moved aside inside it (a concurrent publication then sees it gone and re-publishes), the rows are
   * deleted, and the files moved aside are deleted once the transaction committed. If it does not commit,
   * they are put back (or, after a crash, by recoverTrash).
   */
  private async removeBlobs(digests: string[], cutoff: number, token: string): Promise<{ digest: string; size: number }[]> {
    const moved: { d: ParsedDigest; trash: string }[] = [];
    let removed: { digest: string; size: number }[];
    try {
      removed = await this.meta.transaction(async (tx) => {
        const still = await orphanBlobs(tx as Db, cutoff).where('b.digest', 'in', digests).execute();
        const out: { digest: string; size: number }[] = [];
        for (const c of still) {
          const d = parseDigest(c.digest);
          if (!d || typeof d !== 'object') continue;
          const file = await this.store.stat(blobPath(d));
          // A file written within the grace period is a publication in flight: spare it.
          if (file && file.modifiedAt.getTime() >= cutoff) continue;
          if (file) {
            const trash = trashPath(d, token);
            await this.store.move(blobPath(d), trash);
            moved.push({ d, trash });
          }
          out.push({ digest: c.digest, size: Number(c.size) });
        }
        if (out.length > 0) await tx.deleteFrom('blobs').where('digest', 'in', out.map((b) => b.digest)).execute();
        return out;
      });
    } catch (e) {
      for (const m of moved) await this.store.move(m.trash, blobPath(m.d)).catch(() => undefined);
      throw e;
    }
    for (const m of moved) await this.store.delete(m.trash);
    return removed;
  }
}

/** Blobs older than the cutoff that no repository links. */
function orphanBlobs(qb: Db, cutoff: number) {
  return qb.selectFrom('blobs as b').select(['b.digest', 'b.size']).where('b.touched_at', '<', cutoff)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('repository_blobs as rb').select(sql`1`.as('one')).whereRef('rb.digest', '=', 'b.digest'))));
}

/** Lets queued I/O callbacks (requests) run before the next batch. */
function yieldToRequests(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
