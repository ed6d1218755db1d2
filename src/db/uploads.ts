// Blob upload sessions (table uploads): the acknowledged size, the short-chunk mark and the digest
// being published. The bytes themselves are in storage (registry/upload-service.ts).
import type { Tx } from './database.js';

export interface UploadRow { id: string; size: number; shortChunkEnd: number | null; publishingDigest: string | null }

export async function insertUpload(db: Tx, id: string, repositoryId: number, now: number): Promise<void> {
  await db.insertInto('uploads').values({ id, repository_id: repositoryId, size: 0, created_at: now, updated_at: now }).execute();
}

/** The session, only under the repository (by name) it was started for. */
export async function findUpload(db: Tx, name: string, id: string): Promise<UploadRow | undefined> {
  const r = await db.selectFrom('uploads as u').innerJoin('repositories as r', 'r.id', 'u.repository_id')
    .select(['u.id', 'u.size', 'u.short_chunk_end', 'u.publishing_digest']).where('u.id', '=', id).where('r.name', '=', name).executeTakeFirst();
  return r && {
    id: r.id, size: Number(r.size), shortChunkEnd: r.short_chunk_end === null ? null : Number(r.short_chunk_end), publishingDigest: r.publishing_digest,
  };
}

/** Marks that a chunk shorter than the minimum arrived, ending at `end`: only the closing PUT may follow. */
export async function markShortChunk(db: Tx, id: string, end: number): Promise<void> {
  await db.updateTable('uploads').set({ short_chunk_end: end }).where('id', '=', id).execute();
}

/** Moves the acknowledged size from `from` to `to` only if it is still `from`; false when it moved meanwhile. */
export async function advanceUpload(db: Tx, id: string, from: number, to: number, now: number): Promise<boolean> {
  const res = await db.updateTable('uploads').set({ size: to, updated_at: now }).where('id', '=', id).where('size', '=', from).executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Records the verified digest whose publication begins (a crash after the move can then be completed). */
export async function markPublishing(db: Tx, id: string, digest: string): Promise<void> {
  await db.updateTable('uploads').set({ publishing_digest: digest }).where('id', '=', id).execute();
}

export async function deleteUpload(db: Tx, id: string): Promise<void> {
  await db.deleteFrom('uploads').where('id', '=', id).execute();
}
