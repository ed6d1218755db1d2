// The online garbage collection queue (table gc_review): blob links and blobs that a change may have
// made garbage, queued in the change's own transaction (a blob published, a manifest or a repository
// deleted, a blob unlinked), each due after the delay of its kind. Reviewers in any number of processes
// claim due items (on PostgreSQL with FOR UPDATE SKIP LOCKED: a claimed item is invisible to the others
// until the claiming transaction ends, so a reviewer that dies gives its items back) and re-check every
// reference under row locks before deleting anything (registry/gc-reviewer.ts).
import { sql } from 'kysely';
import type { Dialect, Tx } from './database.js';

/** `link`: a repository's link to a blob that no manifest there may reference now. `blob`: a blob no repository may link now. */
export type ReviewKind = 'link' | 'blob';

export interface ReviewItem { kind: ReviewKind; repositoryId: number; digest: string; reviewAfter: number; reason: string }

/** Queues items; an item already queued keeps the later of the two due times (every change's delay holds). */
export async function queueReviews(tx: Tx, items: ReviewItem[]): Promise<void> {
  for (let i = 0; i < items.length; i += 500) {
    const rows = items.slice(i, i + 500).map((r) => ({ kind: r.kind, repository_id: r.repositoryId, digest: r.digest, review_after: r.reviewAfter, reason: r.reason }));
    await tx.insertInto('gc_review').values(rows).onConflict((oc) => oc.columns(['kind', 'repository_id', 'digest']).doUpdateSet({
      review_after: sql`case when excluded.review_after > gc_review.review_after then excluded.review_after else gc_review.review_after end`,
      reason: sql`case when excluded.review_after > gc_review.review_after then excluded.reason else gc_review.reason end`,
    })).execute();
  }
}

/** Claims up to `limit` items due at `now`, oldest first, for the caller's transaction. */
export async function claimDueReviews(tx: Tx, dialect: Dialect, now: number, limit: number): Promise<ReviewItem[]> {
  const q = tx.selectFrom('gc_review').select(['kind', 'repository_id', 'digest', 'review_after', 'reason'])
    .where('review_after', '<=', now).orderBy('review_after').limit(limit);
  const rows = await (dialect === 'postgres' ? q.forUpdate().skipLocked() : q).execute();
  return rows.map((r) => ({ kind: r.kind as ReviewKind, repositoryId: Number(r.repository_id), digest: r.digest, reviewAfter: Number(r.review_after), reason: r.reason }));
}

export async function dropReview(tx: Tx, item: Pick<ReviewItem, 'kind' | 'repositoryId' | 'digest'>): Promise<void> {
  await tx.deleteFrom('gc_review').where('kind', '=', item.kind).where('repository_id', '=', item.repositoryId).where('digest', '=', item.digest).execute();
}

export async function rescheduleReview(tx: Tx, item: Pick<ReviewItem, 'kind' | 'repositoryId' | 'digest'>, reviewAfter: number): Promise<void> {
  await tx.updateTable('gc_review').set({ review_after: reviewAfter })
    .where('kind', '=', item.kind).where('repository_id', '=', item.repositoryId).where('digest', '=', item.digest).execute();
}

/** How many items are queued, and how many of them are due at `now` (metrics, `berth gc --status`). */
export async function reviewBacklog(db: Tx, now: number): Promise<{ queued: number; due: number }> {
  const r = await db.selectFrom('gc_review')
    .select((eb) => [eb.fn.countAll<number>().as('queued'), eb.fn.sum<number>(sql`case when review_after <= ${now} then 1 else 0 end`).as('due')])
    .executeTakeFirstOrThrow();
  return { queued: Number(r.queued), due: Number(r.due ?? 0) };
}

// The locked re-checks. On PostgreSQL the row is locked FOR UPDATE first and the references are read by a
// later statement, which (read committed) sees every transaction that held the row FOR SHARE (a manifest
// push relying on the link, a mount from it) or created a reference to it: those commit first, or find the
// row gone after this transaction and fail. SQLite runs one write transaction at a time.

/**
 * Serializes, per digest, a publication's look at its file with a collection's removal of a file no row
 * accounts for (there is no row to lock yet): a transaction-level advisory lock on PostgreSQL; SQLite's
 * write transactions are serial anyway. Take several in sorted order.
 */
export async function lockDigest(tx: Tx, dialect: Dialect, digest: string): Promise<void> {
  if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(hashtextextended(${digest}, 0))`.execute(tx);
}

/** The link's last touch, locked; undefined when it is gone. */
export async function lockLink(tx: Tx, dialect: Dialect, repositoryId: number, digest: string): Promise<{ touchedAt: number } | undefined> {
  const q = tx.selectFrom('repository_blobs').select('touched_at').where('repository_id', '=', repositoryId).where('digest', '=', digest);
  const r = await (dialect === 'postgres' ? q.forUpdate() : q).executeTakeFirst();
  return r && { touchedAt: Number(r.touched_at) };
}

/** Whether a manifest of the repository references the blob. */
export async function linkReferenced(tx: Tx, repositoryId: number, digest: string): Promise<boolean> {
  return (await tx.selectFrom('manifest_blobs').select('digest').where('repository_id', '=', repositoryId).where('digest', '=', digest).limit(1).executeTakeFirst()) !== undefined;
}

/** The blob row's size and last touch, locked; undefined when it is gone. */
export async function lockBlob(tx: Tx, dialect: Dialect, digest: string): Promise<{ size: number; touchedAt: number } | undefined> {
  const q = tx.selectFrom('blobs').select(['size', 'touched_at']).where('digest', '=', digest);
  const r = await (dialect === 'postgres' ? q.forUpdate() : q).executeTakeFirst();
  return r && { size: Number(r.size), touchedAt: Number(r.touched_at) };
}

/** Whether any repository links the blob. */
export async function blobLinked(tx: Tx, digest: string): Promise<boolean> {
  return (await tx.selectFrom('repository_blobs').select('digest').where('digest', '=', digest).limit(1).executeTakeFirst()) !== undefined;
}

/** The blobs a manifest references (queued for review when it is deleted). */
export async function manifestBlobDigests(tx: Tx, manifestId: number): Promise<string[]> {
  return (await tx.selectFrom('manifest_blobs').select('digest').where('manifest_id', '=', manifestId).execute()).map((r) => r.digest);
}

/** A repository's blob links (queued for review when it is deleted). */
export async function repositoryLinkDigests(tx: Tx, repositoryId: number): Promise<string[]> {
  return (await tx.selectFrom('repository_blobs').select('digest').where('repository_id', '=', repositoryId).execute()).map((r) => r.digest);
}
