// Manifests and what hangs off them (tables manifests, manifest_blobs, manifest_children, tags): the
// pull's lookups (compiled once, see ManifestLookups), the push's checks and rows, deletion, tag lists
// and referrers. Validation and events stay in registry/manifest-service.ts.
import type { Db, Tx } from './database.js';
import { param, PreparedQuery } from './prepared.js';
import { InvalidatedCache, type Invalidations } from './invalidation.js';

/** A manifest by tag, or by digest (the registry's parsed reference fits). */
export type ManifestKey = { tag: string } | { digest: { digest: string } };

/** The query that finds a manifest by tag or digest in a repository (the columns are the caller's). */
export function manifestLookup(db: Tx, name: string, ref: ManifestKey) {
  const base = db.selectFrom('manifests as m').innerJoin('repositories as r', 'r.id', 'm.repository_id').where('r.name', '=', name);
  return 'tag' in ref
    // Joined on the repository too, so the tag is found through its primary key (repository, name)
    // instead of by walking every manifest of the repository (61 ms at 100,000 tags).
    ? base.innerJoin('tags as t', (j) => j.onRef('t.manifest_id', '=', 'm.id').onRef('t.repository_id', '=', 'r.id')).where('t.name', '=', ref.tag)
    : base.where('m.digest', '=', ref.digest.digest);
}

export interface ManifestHeadRow { digest: string; media_type: string; size: number }
export interface ManifestContentRow extends ManifestHeadRow { content: Buffer }
interface CachedManifest extends ManifestContentRow { repository_id: number }

/** Bytes of manifests a process keeps in memory on PostgreSQL (db/invalidation.ts). */
const MANIFEST_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * The manifest GET/HEAD lookups, compiled once per instance (building a Kysely query costs more than the
 * point lookup). The methods hand back the prepared query's own promise, so SQLite's synchronous read
 * (SYNC_READ) adds no promise turn. On PostgreSQL, where every lookup is a round trip to the server, what
 * they find is kept in memory until the triggers announce a change to the repository's tags or manifests.
 */
export class ManifestLookups {
  private readonly byTagHead: PreparedQuery<ManifestHeadRow>;
  private readonly byDigestHead: PreparedQuery<ManifestHeadRow>;
  private readonly byTagFull: PreparedQuery<ManifestContentRow>;
  private readonly byDigestFull: PreparedQuery<ManifestContentRow>;
  private readonly cached?: { cache: InvalidatedCache<CachedManifest>; byTag: PreparedQuery<CachedManifest>; byDigest: PreparedQuery<CachedManifest> };

  constructor(private readonly db: Db, invalidations?: Invalidations) {
    const tag = { tag: param('tag') };
    const digest = { digest: { digest: param('digest') } };
    const head = ['m.digest', 'm.media_type', 'm.size'] as const;
    const full = ['m.digest', 'm.media_type', 'm.size', 'm.content'] as const;
    this.byTagHead = new PreparedQuery(() => manifestLookup(db, param('name'), tag).select(head));
    this.byDigestHead = new PreparedQuery(() => manifestLookup(db, param('name'), digest).select(head));
    this.byTagFull = new PreparedQuery(() => manifestLookup(db, param('name'), tag).select(full));
    this.byDigestFull = new PreparedQuery(() => manifestLookup(db, param('name'), digest).select(full));
    if (invalidations) {
      const keyed = [...full, 'm.repository_id'] as const;
      this.cached = {
        cache: new InvalidatedCache<CachedManifest>(invalidations, { maxBytes: MANIFEST_CACHE_BYTES, sizeOf: (m) => (m as CachedManifest).content.length + 200 }),
        byTag: new PreparedQuery(() => manifestLookup(db, param('name'), tag).select(keyed)),
        byDigest: new PreparedQuery(() => manifestLookup(db, param('name'), digest).select(keyed)),
      };
    }
  }

  headByTag(name: string, tag: string): Promise<ManifestHeadRow | undefined> {
    return this.cached ? this.viaCache(name, { tag }) : this.byTagHead.first(this.db, { name, tag });
  }

  headByDigest(name: string, digest: string): Promise<ManifestHeadRow | undefined> {
    return this.cached ? this.viaCache(name, { digest }) : this.byDigestHead.first(this.db, { name, digest });
  }

  getByTag(name: string, tag: string): Promise<ManifestContentRow | undefined> {
    return this.cached ? this.viaCache(name, { tag }) : this.byTagFull.first(this.db, { name, tag });
  }

  getByDigest(name: string, digest: string): Promise<ManifestContentRow | undefined> {
    return this.cached ? this.viaCache(name, { digest }) : this.byDigestFull.first(this.db, { name, digest });
  }

  private async viaCache(name: string, ref: { tag: string } | { digest: string }): Promise<CachedManifest | undefined> {
    const { cache, byTag, byDigest } = this.cached!;
    const key = 'tag' in ref ? `${name}\u0000t\u0000${ref.tag}` : `${name}\u0000d\u0000${ref.digest}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const epoch = cache.epoch();
    const row = await ('tag' in ref ? byTag.first(this.db, { name, tag: ref.tag }) : byDigest.first(this.db, { name, digest: ref.digest }));
    // Absence is not kept: a push would have to announce what it creates too.
    if (row) cache.fill(key, row, [`r:${Number(row.repository_id)}`], epoch);
    return row;
  }
}

/** The repository's manifests among `digests`: their own size and their total size (with what they reference). */
export async function manifestSizes(tx: Tx, repositoryId: number, digests: string[]): Promise<{ digest: string; size: number; totalSize: number }[]> {
  const rows = await tx.selectFrom('manifests').select(['digest', 'size', 'total_size']).where('repository_id', '=', repositoryId).where('digest', 'in', digests).execute();
  return rows.map((r) => ({ digest: r.digest, size: Number(r.size), totalSize: Number(r.total_size) }));
}

export async function findManifestId(tx: Tx, repositoryId: number, digest: string): Promise<number | undefined> {
  const r = await tx.selectFrom('manifests').select('id').where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
  return r ? Number(r.id) : undefined;
}

export interface NewManifest {
  repositoryId: number; digest: string; mediaType: string; artifactType: string | null; subjectDigest: string | null;
  content: Buffer; annotations: string | null; createdAt: number; totalSize: number;
}

/** Inserts the manifest with the blobs and child manifests it references; returns its id. */
export async function insertManifest(tx: Tx, m: NewManifest, blobDigests: string[], childDigests: string[]): Promise<number> {
  const inserted = await tx.insertInto('manifests').values({
    repository_id: m.repositoryId, digest: m.digest, media_type: m.mediaType, artifact_type: m.artifactType,
    subject_digest: m.subjectDigest, size: m.content.length, content: m.content,
    annotations: m.annotations, created_at: m.createdAt, total_size: m.totalSize,
  }).returning('id').executeTakeFirstOrThrow();
  const manifestId = Number(inserted.id);
  if (blobDigests.length > 0) {
    await tx.insertInto('manifest_blobs').values(blobDigests.map((d) => ({ manifest_id: manifestId, repository_id: m.repositoryId, digest: d }))).execute();
  }
  if (childDigests.length > 0) {
    await tx.insertInto('manifest_children').values(childDigests.map((d) => ({ manifest_id: manifestId, repository_id: m.repositoryId, child_digest: d }))).execute();
  }
  return manifestId;
}

/** The manifest a tag points at, if the tag exists. */
export async function tagTarget(tx: Tx, repositoryId: number, tag: string): Promise<{ digest: string; mediaType: string; size: number } | undefined> {
  const r = await tx.selectFrom('tags as t').innerJoin('manifests as m', 'm.id', 't.manifest_id').select(['m.digest', 'm.media_type', 'm.size'])
    .where('t.repository_id', '=', repositoryId).where('t.name', '=', tag).executeTakeFirst();
  return r && { digest: r.digest, mediaType: r.media_type, size: Number(r.size) };
}

/** Points the tag at the manifest, creating it if needed. */
export async function upsertTag(tx: Tx, repositoryId: number, tag: string, manifestId: number, now: number): Promise<void> {
  await tx.insertInto('tags').values({ repository_id: repositoryId, name: tag, manifest_id: manifestId, updated_at: now })
    .onConflict((oc) => oc.columns(['repository_id', 'name']).doUpdateSet({ manifest_id: manifestId, updated_at: now })).execute();
}

/** Removes the tag; false when there was none. */
export async function deleteTag(tx: Tx, repositoryId: number, tag: string): Promise<boolean> {
  const res = await tx.deleteFrom('tags').where('repository_id', '=', repositoryId).where('name', '=', tag).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

export async function findManifest(tx: Tx, repositoryId: number, digest: string): Promise<{ id: number; mediaType: string; size: number } | undefined> {
  const r = await tx.selectFrom('manifests').select(['id', 'media_type', 'size']).where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
  return r && { id: r.id, mediaType: r.media_type, size: Number(r.size) };
}

/** The names of the tags pointing at the manifest. */
export async function tagsOfManifest(tx: Tx, manifestId: number): Promise<string[]> {
  return (await tx.selectFrom('tags').select('name').where('manifest_id', '=', manifestId).execute()).map((t) => t.name);
}

/** Deletes the manifest with its tags and its blob and child references. */
export async function deleteManifestRows(tx: Tx, manifestId: number): Promise<void> {
  await tx.deleteFrom('tags').where('manifest_id', '=', manifestId).execute();
  await tx.deleteFrom('manifest_blobs').where('manifest_id', '=', manifestId).execute();
  await tx.deleteFrom('manifest_children').where('manifest_id', '=', manifestId).execute();
  await tx.deleteFrom('manifests').where('id', '=', manifestId).execute();
}

/** A manifest of the repository that references the blob, if any. */
export async function manifestUsingBlob(tx: Tx, repositoryId: number, digest: string): Promise<string | undefined> {
  const r = await tx.selectFrom('manifest_blobs as mb').innerJoin('manifests as m', 'm.id', 'mb.manifest_id')
    .select('m.digest').where('mb.repository_id', '=', repositoryId).where('mb.digest', '=', digest)
    .executeTakeFirst();
  return r?.digest;
}

/** Up to `limit` tag names of the repository in lexical order, after `last`. */
export async function tagNames(db: Tx, repositoryId: number, limit: number, last: string | undefined): Promise<string[]> {
  let q = db.selectFrom('tags').select('name').where('repository_id', '=', repositoryId).orderBy('name').limit(limit);
  if (last !== undefined) q = q.where('name', '>', last);
  return (await q.execute()).map((r) => r.name);
}

export interface ReferrerRow { digest: string; mediaType: string; size: number; artifactType: string | null; annotations: string | null }

/** Up to `limit` manifests of the repository whose subject is `subject`, in digest order after `last`. */
export async function referrersOf(db: Tx, repositoryId: number, subject: string, artifactType: string | undefined, limit: number, last: string | undefined): Promise<ReferrerRow[]> {
  let q = db.selectFrom('manifests').select(['digest', 'media_type', 'size', 'artifact_type', 'annotations'])
    .where('repository_id', '=', repositoryId).where('subject_digest', '=', subject).orderBy('digest').limit(limit);
  if (artifactType !== undefined) q = q.where('artifact_type', '=', artifactType);
  if (last !== undefined) q = q.where('digest', '>', last);
  const rows = await q.execute();
  return rows.map((r) => ({ digest: r.digest, mediaType: r.media_type, size: Number(r.size), artifactType: r.artifact_type, annotations: r.annotations }));
}
