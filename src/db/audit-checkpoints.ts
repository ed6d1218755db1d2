// Signed checkpoints of the audit chain (table audit_checkpoints): "the chain up to seq ends in hash",
// and, once the records up to there were archived and purged, which archive file holds them.
import type { Tx } from './database.js';
import type { AuditCheckpointsTable } from './schema.js';

export interface Checkpoint { seq: number; hash: string; at: number; keyId: string; signature: string; archived: string | null }

const toCheckpoint = (c: AuditCheckpointsTable): Checkpoint => ({
  seq: Number(c.seq), hash: c.hash, at: Number(c.at), keyId: c.key_id, signature: c.signature, archived: c.archived,
});

/** Every checkpoint, in sequence order. */
export async function checkpoints(db: Tx): Promise<Checkpoint[]> {
  return (await db.selectFrom('audit_checkpoints').selectAll().orderBy('seq').execute()).map(toCheckpoint);
}

/** The checkpoints that mark an archive, in sequence order. */
export async function archiveCheckpoints(db: Tx): Promise<Checkpoint[]> {
  return (await db.selectFrom('audit_checkpoints').selectAll().where('archived', 'is not', null).orderBy('seq').execute()).map(toCheckpoint);
}

/** The sequence number of the newest checkpoint (any: `archived` true, only those that mark an archive). */
export async function lastCheckpointSeq(db: Tx, opts: { archived?: boolean } = {}): Promise<number | undefined> {
  let q = db.selectFrom('audit_checkpoints').select('seq');
  if (opts.archived) q = q.where('archived', 'is not', null);
  const r = await q.orderBy('seq', 'desc').limit(1).executeTakeFirst();
  return r ? Number(r.seq) : undefined;
}

export async function hasCheckpointAt(tx: Tx, seq: number): Promise<boolean> {
  return (await tx.selectFrom('audit_checkpoints').select('seq').where('seq', '=', seq).executeTakeFirst()) !== undefined;
}

export async function insertCheckpoint(tx: Tx, c: Checkpoint): Promise<void> {
  await tx.insertInto('audit_checkpoints').values({ seq: c.seq, hash: c.hash, at: c.at, key_id: c.keyId, signature: c.signature, archived: c.archived }).execute();
}

/** Marks an existing checkpoint as the end of an archive (`marker`: the file's name and SHA-256). */
export async function markCheckpointArchived(tx: Tx, seq: number, marker: string): Promise<void> {
  await tx.updateTable('audit_checkpoints').set({ archived: marker }).where('seq', '=', seq).execute();
}
