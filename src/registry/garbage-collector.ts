// Garbage collection: unlinks blobs no manifest references, removes blobs no repository links, and
// purges expired uploads. Safe while pushes go on: rows touched and files written within the grace
// period are spared, and each removal re-checks inside a transaction; publishing re-checks its file
// inside its own transaction, so a concurrent upload either keeps its blob or fails, never half-done.
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { MetadataStore } from '../db/database.js';
import { parseDigest, type ParsedDigest } from '../oci/digest.js';
import type { StorageDriver } from '../storage/driver.js';
import { BLOBS_PREFIX, blobPath, TRASH_PREFIX, trashPath, UPLOADS_PREFIX, uploadPath } from './paths.js';

export interface GcOptions { dryRun?: boolean; graceSeconds: number; uploadExpirySeconds: number; progress?: (msg: string, fields: Record<string, unknown>) => void }

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
    const report: GcReport = { dryRun, unlinked: 0, blobsRemoved: 0, bytesRemoved: 0, uploadsRemoved: 0, uploadBytesRemoved: 0, orphanFilesRemoved: 0, orphanBytesRemoved: 0, durationMs: 0 };
    const db = this.meta.db;
    if (!dryRun) await this.recoverTrash();

    // 1. Links from a repository to a blob that none of its manifests reference.
    const unreferenced = (qb: typeof db) => qb.selectFrom('repository_blobs as rb').select(['rb.repository_id', 'rb.digest'])
      .where('rb.touched_at', '<', cutoff)
      .where((eb) => eb.not(eb.exists(eb.selectFrom('manifest_blobs as mb').select(sql`1`.as('one'))
        .whereRef('mb.repository_id', '=', 'rb.repository_id').whereRef('mb.digest', '=', 'rb.digest'))));
    const links = await unreferenced(db).execute();
    if (!dryRun) {
      for (const l of links) {
        await this.meta.transaction(async (tx) => {
          const still = await tx.selectFrom('repository_blobs as rb').select('rb.digest')
            .where('rb.repository_id', '=', l.repository_id).where('rb.digest', '=', l.digest).where('rb.touched_at', '<', cutoff)
            .where((eb) => eb.not(eb.exists(eb.selectFrom('manifest_blobs as mb').select(sql`1`.as('one'))
              .whereRef('mb.repository_id', '=', 'rb.repository_id').whereRef('mb.digest', '=', 'rb.digest'))))
            .executeTakeFirst();
          if (still) {
            await tx.deleteFrom('repository_blobs').where('repository_id', '=', l.repository_id).where('digest', '=', l.digest).execute();
            report.unlinked++;
          }
        });
      }
    } else {
      report.unlinked = links.length;
    }
    // A dry run removes nothing, and its progress says so.
    progress(dryRun ? 'gc: would unlink unreferenced blobs from repositories' : 'gc: unlinked unreferenced blobs from repositories', { links: report.unlinked });

    // 2. Blobs that no repository links any more.
    const orphanBlobs = (qb: typeof db) => qb.selectFrom('blobs as b').select(['b.digest', 'b.size']).where('b.touched_at', '<', cutoff)
      .where((eb) => eb.not(eb.exists(eb.selectFrom('repository_blobs as rb').select(sql`1`.as('one')).whereRef('rb.digest', '=', 'b.digest'))));
    const linkedNow = new Set(dryRun ? links.map((l) => `${l.repository_id} ${l.digest}`) : []);
    let candidates = await orphanBlobs(db).execute();
    if (dryRun) {
      // Also count blobs whose last links step 1 would remove.
      const remaining = await db.selectFrom('repository_blobs').select(['repository_id', 'digest']).execute();
      const stillLinked = new Set(remaining.filter((r) => !linkedNow.has(`${r.repository_id} ${r.digest}`)).map((r) => r.digest));
      const all = await db.selectFrom('blobs').select(['digest', 'size']).where('touched_at', '<', cutoff).execute();
      candidates = all.filter((b) => !stillLinked.has(b.digest));
    }
    const token = randomBytes(6).toString('hex');
    for (const c of candidates) {
      const d = parseDigest(c.digest) as ParsedDigest;
      if (typeof d !== 'object') continue;
      if (dryRun) { report.blobsRemoved++; report.bytesRemoved += Number(c.size); continue; }
      const trash = trashPath(d, token);
      const removed = await this.meta.transaction(async (tx) => {
        const still = await orphanBlobs(tx as typeof db).where('b.digest', '=', c.digest).executeTakeFirst();
        if (!still) return false;
        const file = await this.store.stat(blobPath(d));
        // A file written within the grace period is a publication in flight: spare it.
        if (file && file.modifiedAt.getTime() >= cutoff) return false;
        if (file) await this.store.move(blobPath(d), trash);
        await tx.deleteFrom('blobs').where('digest', '=', c.digest).execute();
        return true;
      });
      if (removed) {
        await this.store.delete(trash);
        report.blobsRemoved++;
        report.bytesRemoved += Number(c.size);
        if (report.blobsRemoved % 1000 === 0) progress('gc: removing unreferenced blobs', { blobs: report.blobsRemoved, bytes: report.bytesRemoved });
      }
    }
    progress(dryRun ? 'gc: would remove unreferenced blobs' : 'gc: removed unreferenced blobs', { blobs: report.blobsRemoved, bytes: report.bytesRemoved });

    // 3. Upload sessions idle past their expiry.
    const expiry = started - opts.uploadExpirySeconds * 1000;
    const expired = await db.selectFrom('uploads').select(['id', 'size']).where('updated_at', '<', expiry).execute();
    for (const u of expired) {
      if (!dryRun) {
        const res = await db.deleteFrom('uploads').where('id', '=', u.id).where('updated_at', '<', expiry).executeTakeFirst();
        if (Number(res.numDeletedRows) === 0) continue;
        await this.store.delete(uploadPath(u.id));
      }
      report.uploadsRemoved++;
      report.uploadBytesRemoved += Number(u.size);
    }
    progress(dryRun ? 'gc: would remove expired uploads' : 'gc: removed expired uploads', { uploads: report.uploadsRemoved, bytes: report.uploadBytesRemoved });

    // 4. Files no row accounts for: uploads cut off by a crash, blobs whose publication did not commit.
    const sessions = new Set((await db.selectFrom('uploads').select('id').execute()).map((r) => r.id));
    for await (const f of this.store.list(UPLOADS_PREFIX)) {
      const id = f.path.split('/')[1];
      if (sessions.has(id) || f.modifiedAt.getTime() >= expiry) continue;
      if (!dryRun) await this.store.delete(f.path);
      report.orphanFilesRemoved++;
      report.orphanBytesRemoved += f.size;
    }
    for await (const f of this.store.list(BLOBS_PREFIX)) {
      if (f.modifiedAt.getTime() >= cutoff) continue;
      const m = /^blobs\/([a-z0-9]+)\/[a-f0-9]{2}\/([a-f0-9]+)$/.exec(f.path);
      const digest = m ? `${m[1]}:${m[2]}` : null;
      if (digest) {
        const row = await db.selectFrom('blobs').select('digest').where('digest', '=', digest).executeTakeFirst();
        if (row) continue;
        if (!dryRun) {
          const removed = await this.meta.transaction(async (tx) => {
            const again = await tx.selectFrom('blobs').select('digest').where('digest', '=', digest).executeTakeFirst();
            if (again) return false;
            await this.store.delete(f.path);
            return true;
          });
          if (!removed) continue;
        }
      } else if (!dryRun) {
        await this.store.delete(f.path);
      }
      report.orphanFilesRemoved++;
      report.orphanBytesRemoved += f.size;
    }
    progress(dryRun ? 'gc: would remove orphaned files' : 'gc: removed orphaned files', { files: report.orphanFilesRemoved, bytes: report.orphanBytesRemoved });
    report.durationMs = Date.now() - started;
    return report;
  }
}
