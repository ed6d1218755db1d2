// Online garbage collection. Changes that may make a blob link or a blob garbage queue it for review in
// their own transaction (GcQueue, with a delay per kind); reviewers in every process take due items a
// batch per transaction and delete only what a locked re-check finds unreferenced (GcReviewer). `berth gc`
// removes what its scan finds through the same locked removals. Writers that rely on a link (a manifest
// push, a mount) hold it FOR SHARE, so on PostgreSQL a review and such a writer are ordered: the review
// sees the writer's reference, or the writer finds the link gone and fails cleanly.
import { randomBytes } from 'node:crypto';
import type { MetadataStore, Tx } from '../db/database.js';
import { deleteBlobRows } from '../db/gc.js';
import {
  claimDueReviews, deleteLinks, dropReviews, linkedDigests, linkKey, lockBlobs, lockLinks, queueReviews, referencedLinks, rescheduleReview,
  type LinkKey, type ReviewItem,
} from '../db/gc-review.js';
import { parseDigest, type ParsedDigest } from '../oci/digest.js';
import type { StorageDriver } from '../storage/driver.js';
import { blobPath, trashPath } from './paths.js';

/** Delays (ms) after which a change's items are reviewed. */
export interface ReviewDelays {
  /** a blob published: its link, for a manifest to reference it */
  afterUpload: number;
  /** a manifest deleted: the links of its blobs */
  afterManifestDelete: number;
  /** a link removed (blob DELETE, a repository deleted, a link reviewed away): the blob */
  afterUnlink: number;
}

export const DEFAULT_DELAYS: ReviewDelays = { afterUpload: 86_400_000, afterManifestDelete: 86_400_000, afterUnlink: 3_600_000 };

/** Feeds the review queue, inside the transaction of the change. */
export class GcQueue {
  constructor(private readonly delays: ReviewDelays = DEFAULT_DELAYS) {}

  uploaded(tx: Tx, repositoryId: number, digest: string, now = Date.now()): Promise<void> {
    return queueReviews(tx, [{ kind: 'link', repositoryId, digest, reviewAfter: now + this.delays.afterUpload, reason: 'blob.upload' }]);
  }

  manifestDeleted(tx: Tx, repositoryId: number, digests: string[], now = Date.now()): Promise<void> {
    return queueReviews(tx, digests.map((digest) => ({ kind: 'link' as const, repositoryId, digest, reviewAfter: now + this.delays.afterManifestDelete, reason: 'manifest.delete' })));
  }

  unlinked(tx: Tx, digests: string[], reason: string, now = Date.now()): Promise<void> {
    return queueReviews(tx, digests.map((digest) => ({ kind: 'blob' as const, repositoryId: 0, digest, reviewAfter: now + this.delays.afterUnlink, reason })));
  }
}

export interface ReviewReport { reviewed: number; linksRemoved: number; blobsRemoved: number; bytesRemoved: number; rescheduled: number }

/** Storage operations in flight at once while a batch holds its locks. */
const MOVES_AT_ONCE = 16;

export class GcReviewer {
  constructor(
    private readonly meta: MetadataStore,
    private readonly store: StorageDriver,
    /** ms: links and blobs touched (pushed, checked, mounted) more recently than this are spared */
    private readonly graceMs: number,
  ) {}

  /** Reviews up to `limit` due items in one transaction; what is still in use leaves the queue. */
  async reviewDue(limit = 200, now = Date.now()): Promise<ReviewReport> {
    const report: ReviewReport = { reviewed: 0, linksRemoved: 0, blobsRemoved: 0, bytesRemoved: 0, rescheduled: 0 };
    const cutoff = now - this.graceMs;
    const token = randomBytes(6).toString('hex');
    const moved: { d: ParsedDigest; trash: string }[] = [];
    try {
      await this.meta.transaction(async (tx) => {
        await this.putBack(moved); // a transaction run again (PostgreSQL) starts from the files as they were
        Object.assign(report, { reviewed: 0, linksRemoved: 0, blobsRemoved: 0, bytesRemoved: 0, rescheduled: 0 });
        const items = await claimDueReviews(tx, this.meta.dialect, now, limit);
        report.reviewed = items.length;
        const links = items.filter((i) => i.kind === 'link'), blobs = items.filter((i) => i.kind === 'blob');
        const done: ReviewItem[] = [];
        const unlinked = await this.removeLinksIn(tx, links, cutoff);
        for (const item of links) {
          const r = unlinked.get(linkKey(item));
          if (r?.until !== undefined) { await rescheduleReview(tx, item, r.until + this.graceMs + 1); report.rescheduled++; continue; }
          if (r?.removed) report.linksRemoved++;
          done.push(item);
        }
        const gone = await this.removeBlobsIn(tx, blobs.map((b) => b.digest), cutoff, token, moved);
        for (const b of blobs) {
          const g = gone.get(b.digest);
          if (g && g.until !== undefined) { await rescheduleReview(tx, b, g.until + this.graceMs + 1); report.rescheduled++; continue; }
          if (g?.size !== undefined) { report.blobsRemoved++; report.bytesRemoved += g.size; }
          done.push(b);
        }
        await dropReviews(tx, done);
      });
    } catch (e) {
      await this.putBack(moved);
      throw e;
    }
    await inParallel(moved, MOVES_AT_ONCE, (m) => this.store.delete(m.trash));
    return report;
  }

  /** Reviews until nothing due at `now` is left (or `max` batches). */
  async drain(now = Date.now(), max = Infinity, batch = 200): Promise<ReviewReport> {
    const total: ReviewReport = { reviewed: 0, linksRemoved: 0, blobsRemoved: 0, bytesRemoved: 0, rescheduled: 0 };
    for (let i = 0; i < max; i++) {
      const r = await this.reviewDue(batch, now);
      for (const k of Object.keys(total) as (keyof ReviewReport)[]) total[k] += r[k];
      if (r.reviewed === 0) break;
    }
    return total;
  }

  /**
   * Removes the links among `links` that are still unreferenced and untouched since `cutoff`, one
   * transaction; their blobs are queued for review. Returns how many went.
   */
  async removeLinks(links: LinkKey[], cutoff: number): Promise<number> {
    return this.meta.transaction(async (tx) => [...(await this.removeLinksIn(tx, links, cutoff)).values()].filter((r) => r.removed).length);
  }

  /** Removes the blobs among `digests` that are still unlinked and untouched since `cutoff`, one transaction. */
  async removeBlobs(digests: string[], cutoff: number, token: string): Promise<{ digest: string; size: number }[]> {
    const moved: { d: ParsedDigest; trash: string }[] = [];
    let out: { digest: string; size: number }[];
    try {
      out = await this.meta.transaction(async (tx) => {
        await this.putBack(moved);
        const gone = await this.removeBlobsIn(tx, digests, cutoff, token, moved);
        return [...gone].filter(([, g]) => g.size !== undefined).map(([digest, g]) => ({ digest, size: g.size! }));
      });
    } catch (e) {
      await this.putBack(moved);
      throw e;
    }
    await inParallel(moved, MOVES_AT_ONCE, (m) => this.store.delete(m.trash));
    return out;
  }

  /**
   * Inside `tx`, by linkKey: `removed`, the link went (its blob is queued for review at once); `until`, it was
   * touched since the cutoff (review again later); neither, it is gone or referenced.
   */
  private async removeLinksIn(tx: Tx, links: LinkKey[], cutoff: number): Promise<Map<string, { removed: boolean; until?: number }>> {
    const out = new Map<string, { removed: boolean; until?: number }>();
    const touched = await lockLinks(tx, this.meta.dialect, links);
    const old: LinkKey[] = [];
    for (const l of links) {
      const at = touched.get(linkKey(l));
      if (at === undefined) out.set(linkKey(l), { removed: false });
      else if (at >= cutoff) out.set(linkKey(l), { removed: false, until: at });
      else old.push(l);
    }
    // Read after the locks: every writer that held one of them FOR SHARE has committed its reference.
    const referenced = await referencedLinks(tx, old);
    const doomed = old.filter((l) => !referenced.has(linkKey(l)));
    for (const l of old) out.set(linkKey(l), { removed: !referenced.has(linkKey(l)) });
    await deleteLinks(tx, doomed);
    // Due at once: the link went untouched for the grace period, and the blob's own touch still counts.
    await queueReviews(tx, [...new Set(doomed.map((l) => l.digest))].map((digest) => ({ kind: 'blob' as const, repositoryId: 0, digest, reviewAfter: 0, reason: 'link.review' })));
    return out;
  }

  /**
   * Inside `tx`: each blob still unlinked and old has its file moved aside (a concurrent publication then
   * sees it gone and fails cleanly) and its row deleted; the caller deletes the moved files once the
   * transaction committed, or puts them back. After a power failure either name is safe: a blob back at
   * its path with its row gone is an orphaned file (`berth gc` removes it); one in the trash with its row
   * kept is put back at start (recoverTrash).
   */
  private async removeBlobsIn(tx: Tx, digests: string[], cutoff: number, token: string, moved: { d: ParsedDigest; trash: string }[]): Promise<Map<string, { size?: number; until?: number }>> {
    const out = new Map<string, { size?: number; until?: number }>();
    const doomed: { digest: string; d: ParsedDigest | null; size: number }[] = [];
    const unique = [...new Set(digests)];
    const rows = await lockBlobs(tx, this.meta.dialect, unique);
    const linked = await linkedDigests(tx, [...rows.keys()]);
    for (const digest of unique) {
      const blob = rows.get(digest);
      if (!blob || linked.has(digest)) { out.set(digest, {}); continue; }
      if (blob.touchedAt >= cutoff) { out.set(digest, { until: blob.touchedAt }); continue; }
      const d = parseDigest(digest);
      doomed.push({ digest, d: d && typeof d === 'object' ? d : null, size: blob.size });
    }
    const removed: string[] = [];
    await inParallel(doomed, MOVES_AT_ONCE, async (b) => {
      if (b.d) {
        const file = await this.store.stat(blobPath(b.d));
        // A file written within the grace period is a publication in flight: spare it.
        if (file && file.modifiedAt.getTime() >= cutoff) { out.set(b.digest, { until: file.modifiedAt.getTime() }); return; }
        if (file) {
          const trash = trashPath(b.d, token);
          await this.store.move(blobPath(b.d), trash, { durable: false });
          moved.push({ d: b.d, trash });
        }
      }
      out.set(b.digest, { size: b.size });
      removed.push(b.digest);
    });
    if (removed.length > 0) await deleteBlobRows(tx, removed);
    return out;
  }

  private async putBack(moved: { d: ParsedDigest; trash: string }[]): Promise<void> {
    for (const m of moved) await this.store.move(m.trash, blobPath(m.d)).catch(() => undefined);
    moved.length = 0;
  }
}

async function inParallel<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}
