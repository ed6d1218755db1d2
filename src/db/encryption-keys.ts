// Key-encryption keys of encryption at rest (table encryption_keys): which exist, which is current.
import type { Tx } from './database.js';

export interface EncryptionKeyRow {
  id: string; provider: string; state: 'active' | 'retired'; createdAt: number; retiredAt: number | null; checkWrapped: Buffer; checkDigest: string;
}

export async function listEncryptionKeys(db: Tx): Promise<EncryptionKeyRow[]> {
  const rows = await db.selectFrom('encryption_keys').selectAll().orderBy('created_at').orderBy('id').execute();
  return rows.map((r) => ({
    id: r.id, provider: r.provider, state: r.state, createdAt: Number(r.created_at), retiredAt: r.retired_at === null ? null : Number(r.retired_at),
    checkWrapped: Buffer.from(r.check_wrapped), checkDigest: r.check_digest,
  }));
}

/** The key new files are wrapped with: the newest active one. */
export async function currentEncryptionKeyId(db: Tx): Promise<string | undefined> {
  const r = await db.selectFrom('encryption_keys').select('id').where('state', '=', 'active')
    .orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
  return r?.id;
}

export async function insertEncryptionKey(db: Tx, k: Omit<EncryptionKeyRow, 'retiredAt' | 'state'>): Promise<void> {
  await db.insertInto('encryption_keys').values({
    id: k.id, provider: k.provider, state: 'active', created_at: k.createdAt, retired_at: null, check_wrapped: k.checkWrapped, check_digest: k.checkDigest,
  }).execute();
}

export async function retireEncryptionKey(db: Tx, id: string, at: number): Promise<boolean> {
  const r = await db.updateTable('encryption_keys').set({ state: 'retired', retired_at: at }).where('id', '=', id).where('state', '=', 'active').executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
