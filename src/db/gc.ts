// The garbage collector's scans and removals (registry/garbage-collector.ts): blob links no manifest
// references, blobs no repository links, expired upload sessions, and which digests have a row. Every
// removal goes through the locked re-checks of registry/gc-reviewer.ts (db/gc-review.ts).
import { sql } from 'kysely';
import type { Tx } from './database.js';

export interface BlobLinkKey { repository_id: number; digest: string }

/** Links older than the cutoff that none of the repository's manifests reference. */
function unreferencedLinks(db: Tx, cutoff: number) {
  return db.selectFrom('repository_blobs as rb').select(['rb.repository_id', 'rb.digest'])
    .where('rb.touched_at', '<', cutoff)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('manifest_blobs as mb').select(sql`1`.as('one'))
      .whereRef('mb.repository_id', '=', 'rb.repository_id').whereRef('mb.digest', '=', 'rb.digest'))));
}

/** Up to `limit` unreferenced links in (repository, digest) order, after `after`. */
export async function unreferencedLinksPage(db: Tx, cutoff: number, after: BlobLinkKey | undefined, limit: number): Promise<BlobLinkKey[]> {
  return unreferencedLinks(db, cutoff)
    .$if(after !== undefined, (q) => q.where((eb) => eb.or([eb('rb.repository_id', '>', after!.repository_id),
      eb.and([eb('rb.repository_id', '=', after!.repository_id), eb('rb.digest', '>', after!.digest)])])))
    .orderBy('rb.repository_id').orderBy('rb.digest').limit(limit).execute();
}

/** Every blob link (a dry run's view of what would remain). */
export async function allBlobLinks(db: Tx): Promise<BlobLinkKey[]> {
  return db.selectFrom('repository_blobs').select(['repository_id', 'digest']).execute();
}

/** Every blob older than the cutoff, linked or not. */
export async function blobsOlderThan(db: Tx, cutoff: number): Promise<{ digest: string; size: number }[]> {
  return db.selectFrom('blobs').select(['digest', 'size']).where('touched_at', '<', cutoff).execute();
}

/** Blobs older than the cutoff that no repository links. */
function orphanBlobs(db: Tx, cutoff: number) {
  return db.selectFrom('blobs as b').select(['b.digest', 'b.size']).where('b.touched_at', '<', cutoff)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('repository_blobs as rb').select(sql`1`.as('one')).whereRef('rb.digest', '=', 'b.digest'))));
}

/** Up to `limit` orphaned blobs in digest order, after `after`. */
export async function orphanBlobsPage(db: Tx, cutoff: number, after: string | undefined, limit: number): Promise<{ digest: string; size: number }[]> {
  return orphanBlobs(db, cutoff).$if(after !== undefined, (q) => q.where('b.digest', '>', after!)).orderBy('b.digest').limit(limit).execute();
}

export async function deleteBlobRows(tx: Tx, digests: string[]): Promise<void> {
  await tx.deleteFrom('blobs').where('digest', 'in', digests).execute();
}

/** Whether the blob has a row. */
export async function blobRowExists(tx: Tx, digest: string): Promise<boolean> {
  return (await tx.selectFrom('blobs').select('size').where('digest', '=', digest).executeTakeFirst()) !== undefined;
}

/** Those of `digests` that have a blob row. */
export async function knownBlobDigests(db: Tx, digests: string[]): Promise<Set<string>> {
  if (digests.length === 0) return new Set();
  return new Set((await db.selectFrom('blobs').select('digest').where('digest', 'in', digests).execute()).map((r) => r.digest));
}

/** Up to `limit` upload sessions idle since before `expiry`, in id order, after `after`. */
export async function expiredUploadsPage(db: Tx, expiry: number, after: string | undefined, limit: number): Promise<{ id: string; size: number }[]> {
  return db.selectFrom('uploads').select(['id', 'size']).where('updated_at', '<', expiry)
    .$if(after !== undefined, (q) => q.where('id', '>', after!)).orderBy('id').limit(limit).execute();
}

/** Deletes those of the sessions that are still idle since before `expiry`; returns the ones deleted. */
export async function deleteExpiredUploads(tx: Tx, ids: string[], expiry: number): Promise<{ id: string; size: number }[]> {
  return tx.deleteFrom('uploads').where('id', 'in', ids).where('updated_at', '<', expiry).returning(['id', 'size']).execute();
}

/** The ids of all upload sessions. */
export async function uploadIds(db: Tx): Promise<string[]> {
  return (await db.selectFrom('uploads').select('id').execute()).map((r) => r.id);
}
