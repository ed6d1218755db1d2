// Blobs (tables blobs, repository_blobs): the rows of content-addressed bytes and the links that say
// which repository may see which blob. The bytes and their publication are registry/blob-service.ts.
import type { Db, Dialect, Tx } from './database.js';
import { param, PreparedQuery } from './prepared.js';
import { InvalidatedCache, type Invalidations } from './invalidation.js';

export interface BlobLinkRow { digest: string; size: number; repository_id: number; touched_at: number }

/**
 * The blob HEAD/GET lookup, compiled once. The method hands back the prepared query's own promise, so
 * SQLite's synchronous read (SYNC_READ) adds no promise turn.
 */
export class BlobLookups {
  private readonly linked: PreparedQuery<BlobLinkRow>;
  // On PostgreSQL, kept until the triggers announce the link's or the blob's removal (db/invalidation.ts).
  // A touch elsewhere is not announced: the cached touch time is then older than the real one, which costs
  // at most one more touch.
  private readonly cache?: InvalidatedCache<BlobLinkRow>;

  constructor(private readonly db: Db, invalidations?: Invalidations) {
    if (invalidations) this.cache = new InvalidatedCache(invalidations, { maxEntries: 50_000 });
    this.linked = new PreparedQuery(() => db.selectFrom('repository_blobs as rb')
      .innerJoin('repositories as r', 'r.id', 'rb.repository_id')
      .innerJoin('blobs as b', 'b.digest', 'rb.digest')
      .select(['b.digest', 'b.size', 'rb.repository_id', 'rb.touched_at'])
      .where('r.name', '=', param('name')).where('rb.digest', '=', param('digest')));
  }

  /** The blob as the repository (by name) links it, with the link's repository id and last touch. */
  linkedBlob(name: string, digest: string): Promise<BlobLinkRow | undefined> {
    if (!this.cache) return this.linked.first(this.db, { name, digest });
    const key = `${name}\u0000${digest}`;
    const hit = this.cache.get(key);
    return hit ? Promise.resolve(hit) : this.fill(key, name, digest);
  }

  /** The link was touched at `at` (by this process). */
  touched(name: string, digest: string, at: number): void {
    const hit = this.cache?.get(`${name}\u0000${digest}`);
    if (hit) hit.touched_at = at;
  }

  private async fill(key: string, name: string, digest: string): Promise<BlobLinkRow | undefined> {
    const epoch = this.cache!.epoch();
    const row = await this.linked.first(this.db, { name, digest });
    if (row) this.cache!.fill(key, { ...row }, [`b:${digest}`], epoch);
    return row;
  }
}

/** Marks the link as used now; false when the link is gone. */
export async function touchBlobLink(db: Tx, repositoryId: number, digest: string, now: number): Promise<boolean> {
  const res = await db.updateTable('repository_blobs').set({ touched_at: now })
    .where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** Records the blob (or touches it and corrects its size when it is already there). */
export async function upsertBlob(tx: Tx, digest: string, size: number, now: number): Promise<void> {
  await tx.insertInto('blobs').values({ digest, size, created_at: now, touched_at: now })
    .onConflict((oc) => oc.column('digest').doUpdateSet({ touched_at: now, size })).execute();
}

export async function touchBlob(tx: Tx, digest: string, now: number): Promise<void> {
  await tx.updateTable('blobs').set({ touched_at: now }).where('digest', '=', digest).execute();
}

/** Links the blob into the repository (or touches the link). */
export async function linkBlob(tx: Tx, repositoryId: number, digest: string, now: number): Promise<void> {
  await tx.insertInto('repository_blobs').values({ repository_id: repositoryId, digest, created_at: now, touched_at: now })
    .onConflict((oc) => oc.columns(['repository_id', 'digest']).doUpdateSet({ touched_at: now })).execute();
}

/** Removes the repository's link to the blob; false when there was none. */
export async function unlinkBlob(tx: Tx, repositoryId: number, digest: string): Promise<boolean> {
  const res = await tx.deleteFrom('repository_blobs').where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/**
 * The blob as the repository (by name) links it, inside a transaction; with `dialect` postgres the link
 * and the blob are held FOR SHARE until it ends (a mount relies on them: db/gc-review.ts).
 */
export async function findLinkedBlob(tx: Tx, name: string, digest: string, dialect?: Dialect): Promise<{ digest: string; size: number } | undefined> {
  const q = tx.selectFrom('repository_blobs as rb')
    .innerJoin('repositories as r', 'r.id', 'rb.repository_id')
    .innerJoin('blobs as b', 'b.digest', 'rb.digest')
    .select(['b.digest', 'b.size'])
    .where('r.name', '=', name).where('rb.digest', '=', digest);
  const r = await (dialect === 'postgres' ? q.forShare('rb').forShare('b') : q).executeTakeFirst();
  return r && { digest: r.digest, size: Number(r.size) };
}

/**
 * The sizes of the blobs among `digests` that the repository links, by digest; on PostgreSQL the links are
 * held FOR SHARE until the transaction ends (a manifest push relies on them: db/gc-review.ts).
 */
export async function linkedBlobSizes(tx: Tx, repositoryId: number, digests: string[], dialect: Dialect): Promise<Map<string, number>> {
  const q = tx.selectFrom('repository_blobs as rb').innerJoin('blobs as b', 'b.digest', 'rb.digest')
    .select(['b.digest', 'b.size']).where('rb.repository_id', '=', repositoryId).where('rb.digest', 'in', digests).orderBy('rb.digest');
  const rows = await (dialect === 'postgres' ? q.forShare('rb') : q).execute();
  return new Map(rows.map((p) => [p.digest, Number(p.size)]));
}
