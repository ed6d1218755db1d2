// What people browse (registry/repository-browser.ts): pages of tags in any order, a manifest with its
// tags and referrers, and the blobs each repository links (storage use). Tag pages walk the indexes
// tags_pushed and tags_size (migration 0013) instead of sorting every tag.
import { sql } from 'kysely';
import type { Tx } from './database.js';

export type TagOrder = 'name' | 'pushed' | 'size';

export interface TagPageRow {
  name: string; updatedAt: number; size: number; manifestId: number; digest: string; mediaType: string; artifactType: string | null; content: Buffer;
}

export interface ManifestRow {
  id: number; digest: string; mediaType: string; artifactType: string | null; size: number; content: Buffer; createdAt: number;
}

function tagsOf(db: Tx, repositoryId: number, q: string | undefined) {
  let b = db.selectFrom('tags as t').innerJoin('manifests as m', 'm.id', 't.manifest_id').where('t.repository_id', '=', repositoryId);
  // A case-sensitive substring (LIKE would ignore ASCII case on SQLite), in SQL both dialects speak:
  // replacing a non-empty q changes the name exactly when the name contains it.
  if (q) b = b.where(sql<boolean>`replace(t.name, ${q}, '') <> t.name`);
  return b;
}

/** How many tags the repository has (its own count), or, with `q`, how many of them contain `q`. */
export async function countTags(db: Tx, repositoryId: number, q?: string): Promise<number> {
  return Number(q
    ? (await tagsOf(db, repositoryId, q).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n
    : (await db.selectFrom('repositories').select('tag_count').where('id', '=', repositoryId).executeTakeFirstOrThrow()).tag_count);
}

/** A tag's push time and size (the keys of the other orders), if it exists. */
export async function tagSortKeys(db: Tx, repositoryId: number, tag: string): Promise<{ pushed: number; size: number } | undefined> {
  const at = await tagsOf(db, repositoryId, undefined).select(['t.updated_at', 't.size']).where('t.name', '=', tag).executeTakeFirst();
  return at && { pushed: Number(at.updated_at), size: Number(at.size) };
}

/**
 * Up to `limit` tags (containing `q`, when given) in the order, after the position `after` (a name, and for
 * the pushed and size orders that tag's key), with their manifests.
 */
export async function tagPage(db: Tx, repositoryId: number, opts: {
  order: TagOrder; desc: boolean; after?: { key?: number; name: string }; q?: string; limit: number;
}): Promise<TagPageRow[]> {
  const keyColumn = opts.order === 'pushed' ? 't.updated_at' : opts.order === 'size' ? 't.size' : undefined;
  let query = tagsOf(db, repositoryId, opts.q).select(['t.name', 't.updated_at', 't.size', 'm.id', 'm.digest', 'm.media_type', 'm.artifact_type', 'm.content']);
  const after = opts.after;
  if (after) {
    const cmp = opts.desc ? '<' : '>';
    query = keyColumn && after.key !== undefined
      ? query.where((eb) => eb.or([eb(keyColumn, cmp, after.key!), eb.and([eb(keyColumn, '=', after.key!), eb('t.name', cmp, after.name)])]))
      : query.where('t.name', cmp, after.name);
  }
  const dir = opts.desc ? 'desc' : 'asc';
  if (keyColumn) query = query.orderBy(keyColumn, dir);
  const rows = await query.orderBy('t.name', dir).limit(opts.limit).execute();
  return rows.map((r) => ({
    name: r.name, updatedAt: Number(r.updated_at), size: Number(r.size), manifestId: Number(r.id), digest: r.digest, mediaType: r.media_type,
    artifactType: r.artifact_type, content: Buffer.from(r.content),
  }));
}

const toManifest = (r: { id: number; digest: string; media_type: string; artifact_type: string | null; size: number; content: Buffer; created_at: number }): ManifestRow => ({
  id: Number(r.id), digest: r.digest, mediaType: r.media_type, artifactType: r.artifact_type, size: Number(r.size), content: Buffer.from(r.content), createdAt: Number(r.created_at),
});

/** A manifest of the repository by digest, or by tag (a reference without ':'). */
export async function manifestByReference(db: Tx, repositoryId: number, reference: string): Promise<ManifestRow | undefined> {
  const row = reference.includes(':')
    ? await db.selectFrom('manifests').selectAll().where('repository_id', '=', repositoryId).where('digest', '=', reference).executeTakeFirst()
    : await db.selectFrom('tags as t').innerJoin('manifests as m', 'm.id', 't.manifest_id').selectAll('m')
      .where('t.repository_id', '=', repositoryId).where('t.name', '=', reference).executeTakeFirst();
  return row && toManifest(row);
}

/** Manifests of the repository whose subject is `digest`, oldest first, at most `limit`. */
export async function referrersOf(db: Tx, repositoryId: number, digest: string, limit: number): Promise<{ digest: string; artifactType: string | null; mediaType: string; size: number; annotations: string | null }[]> {
  const rows = await db.selectFrom('manifests').select(['digest', 'artifact_type', 'media_type', 'size', 'annotations'])
    .where('repository_id', '=', repositoryId).where('subject_digest', '=', digest).orderBy('created_at').limit(limit).execute();
  return rows.map((r) => ({ digest: r.digest, artifactType: r.artifact_type, mediaType: r.media_type, size: Number(r.size), annotations: r.annotations }));
}

/** The names of the repository's tags that point at the manifest, in name order. */
export async function tagNamesOf(db: Tx, repositoryId: number, manifestId: number): Promise<string[]> {
  return (await db.selectFrom('tags').select('name').where('repository_id', '=', repositoryId).where('manifest_id', '=', manifestId).orderBy('name').execute()).map((t) => t.name);
}

/** Every (repository, blob) link with the blob's size. */
export async function linkedBlobs(db: Tx): Promise<{ repository: string; digest: string; size: number }[]> {
  const rows = await db.selectFrom('repository_blobs as rb').innerJoin('repositories as r', 'r.id', 'rb.repository_id').innerJoin('blobs as b', 'b.digest', 'rb.digest')
    .select(['r.name', 'b.digest', 'b.size']).execute();
  return rows.map((r) => ({ repository: r.name, digest: r.digest, size: Number(r.size) }));
}
