// The online garbage collection queue (table gc_review): blob links and blobs that a change may have
// made garbage, queued in the change's own transaction (a blob published, a manifest or a repository
// deleted, a blob unlinked), each due after the delay of its kind. Reviewers in any number of processes
// claim due items (on PostgreSQL with FOR UPDATE SKIP LOCKED: a claimed item is invisible to the others
// until the claiming transaction ends, so a reviewer that dies gives its items back) and re-check every
// reference under row locks before deleting anything (registry/gc-reviewer.ts).
import { sql, type ExpressionBuilder } from 'kysely';
import type { Dialect, Tx } from './database.js';
import type { Database } from './schema.js';

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

/** Takes the items off the queue. */
export async function dropReviews(tx: Tx, items: Pick<ReviewItem, 'kind' | 'repositoryId' | 'digest'>[]): Promise<void> {
  for (const kind of ['link', 'blob'] as const) {
    const of = items.filter((i) => i.kind === kind);
    for (let i = 0; i < of.length; i += CHUNK) await tx.deleteFrom('gc_review').where('kind', '=', kind).where(whereLinks(of.slice(i, i + CHUNK))).execute();
  }
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

/** Keys per statement: well inside SQLite's limit on bound parameters. */
const CHUNK = 500;

export interface LinkKey { repositoryId: number; digest: string }

export const linkKey = (l: LinkKey): string => `${l.repositoryId} ${l.digest}`;

/** Matches the links in `links`, grouped by repository (SQLite takes no list of row values after IN). */
function whereLinks(links: LinkKey[]) {
  const byRepo = new Map<number, string[]>();
  for (const l of links) byRepo.set(l.repositoryId, [...(byRepo.get(l.repositoryId) ?? []), l.digest]);
  return <T extends 'repository_blobs' | 'manifest_blobs' | 'gc_review'>(eb: ExpressionBuilder<Database, T>) =>
    eb.or([...byRepo].map(([repo, digests]) => eb.and([eb(sql.ref<number>('repository_id'), '=', repo), eb(sql.ref<string>('digest'), 'in', digests)])));
}

/** The last touch of each of the links still there, by linkKey; locked in key order (no deadlock between collectors). */
export async function lockLinks(tx: Tx, dialect: Dialect, links: LinkKey[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const sorted = [...links].sort((a, b) => a.repositoryId - b.repositoryId || (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  for (let i = 0; i < sorted.length; i += CHUNK) {
    const q = tx.selectFrom('repository_blobs').select(['repository_id', 'digest', 'touched_at']).where(whereLinks(sorted.slice(i, i + CHUNK)))
      .orderBy('repository_id').orderBy('digest');
    for (const r of await (dialect === 'postgres' ? q.forUpdate() : q).execute()) out.set(linkKey({ repositoryId: Number(r.repository_id), digest: r.digest }), Number(r.touched_at));
  }
  return out;
}

/** Those of the links that a manifest of their repository references, by linkKey. */
export async function referencedLinks(tx: Tx, links: LinkKey[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < links.length; i += CHUNK) {
    const rows = await tx.selectFrom('manifest_blobs').select(['repository_id', 'digest']).distinct().where(whereLinks(links.slice(i, i + CHUNK))).execute();
    for (const r of rows) out.add(linkKey({ repositoryId: Number(r.repository_id), digest: r.digest }));
  }
  return out;
}

export async function deleteLinks(tx: Tx, links: LinkKey[]): Promise<void> {
  for (let i = 0; i < links.length; i += CHUNK) await tx.deleteFrom('repository_blobs').where(whereLinks(links.slice(i, i + CHUNK))).execute();
}

/** The size and last touch of each of the blob rows still there, by digest; locked in digest order. */
export async function lockBlobs(tx: Tx, dialect: Dialect, digests: string[]): Promise<Map<string, { size: number; touchedAt: number }>> {
  const out = new Map<string, { size: number; touchedAt: number }>();
  const sorted = [...digests].sort();
  for (let i = 0; i < sorted.length; i += CHUNK) {
    const q = tx.selectFrom('blobs').select(['digest', 'size', 'touched_at']).where('digest', 'in', sorted.slice(i, i + CHUNK)).orderBy('digest');
    for (const r of await (dialect === 'postgres' ? q.forUpdate() : q).execute()) out.set(r.digest, { size: Number(r.size), touchedAt: Number(r.touched_at) });
  }
  return out;
}

/** Those of `digests` that some repository links. */
export async function linkedDigests(tx: Tx, digests: string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < digests.length; i += CHUNK) {
    for (const r of await tx.selectFrom('repository_blobs').select('digest').distinct().where('digest', 'in', digests.slice(i, i + CHUNK)).execute()) out.add(r.digest);
  }
  return out;
}

/** The blobs a manifest references (queued for review when it is deleted). */
export async function manifestBlobDigests(tx: Tx, manifestId: number): Promise<string[]> {
  return (await tx.selectFrom('manifest_blobs').select('digest').where('manifest_id', '=', manifestId).execute()).map((r) => r.digest);
}

/** A repository's blob links (queued for review when it is deleted). */
export async function repositoryLinkDigests(tx: Tx, repositoryId: number): Promise<string[]> {
  return (await tx.selectFrom('repository_blobs').select('digest').where('repository_id', '=', repositoryId).execute()).map((r) => r.digest);
}
