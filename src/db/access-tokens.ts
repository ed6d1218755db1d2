// Personal access tokens (table access_tokens): only the SHA-256 of a token's secret is stored; scopes
// are a JSON list (auth/access-tokens.ts parses them). Constant-time comparison is the caller's.
import type { Tx } from './database.js';

export interface AccessTokenRow {
  id: string; userId: number; name: string; secretHash: string; scopes: string | null;
  createdAt: number; expiresAt: number | null; lastUsedAt: number | null; revokedAt: number | null;
}

const orNull = (n: number | null) => (n === null ? null : Number(n));

const toRow = (r: {
  id: string; user_id: number; name: string; secret_hash: string; scopes: string | null; created_at: number; expires_at: number | null;
  last_used_at: number | null; revoked_at: number | null;
}): AccessTokenRow => ({
  id: r.id, userId: Number(r.user_id), name: r.name, secretHash: r.secret_hash, scopes: r.scopes, createdAt: Number(r.created_at),
  expiresAt: orNull(r.expires_at), lastUsedAt: orNull(r.last_used_at), revokedAt: orNull(r.revoked_at),
});

/** A new token, neither used nor revoked. */
export async function insertAccessToken(tx: Tx, t: { id: string; userId: number; name: string; secretHash: string; scopes: string | null; createdAt: number; expiresAt: number | null }): Promise<void> {
  await tx.insertInto('access_tokens').values({
    id: t.id, user_id: t.userId, name: t.name, secret_hash: t.secretHash, scopes: t.scopes,
    created_at: t.createdAt, expires_at: t.expiresAt, last_used_at: null, revoked_at: null,
  }).execute();
}

export async function findAccessToken(db: Tx, id: string): Promise<AccessTokenRow | undefined> {
  const r = await db.selectFrom('access_tokens').selectAll().where('id', '=', id).executeTakeFirst();
  return r && toRow(r);
}

/** A user's tokens, oldest first. */
export async function accessTokensOf(db: Tx, userId: number): Promise<AccessTokenRow[]> {
  return (await db.selectFrom('access_tokens').selectAll().where('user_id', '=', userId).orderBy('created_at').execute()).map(toRow);
}

/** Revokes a token not revoked yet; false when there is none such. */
export async function revokeAccessToken(tx: Tx, id: string, now: number): Promise<boolean> {
  const res = await tx.updateTable('access_tokens').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** The name of the user a token belongs to. */
export async function accessTokenOwnerName(db: Tx, id: string): Promise<string | undefined> {
  const owner = await db.selectFrom('access_tokens as t').innerJoin('users as u', 'u.id', 't.user_id').select('u.name').where('t.id', '=', id).executeTakeFirst();
  return owner?.name;
}

export async function recordAccessTokenUse(db: Tx, id: string, now: number): Promise<void> {
  await db.updateTable('access_tokens').set({ last_used_at: now }).where('id', '=', id).execute();
}
