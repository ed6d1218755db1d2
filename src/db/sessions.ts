// Login sessions (table sessions), keyed by the SHA-256 of the cookie's secret (auth/sessions.ts hashes it).
import type { Tx } from './database.js';

export interface SessionRow { idHash: string; userId: number; createdAt: number; lastSeenAt: number; expiresAt: number }

export async function insertSession(db: Tx, s: { idHash: string; userId: number; now: number; expiresAt: number; address: string; userAgent: string }): Promise<void> {
  await db.insertInto('sessions').values({
    id_hash: s.idHash, user_id: s.userId, created_at: s.now, last_seen_at: s.now, expires_at: s.expiresAt, address: s.address, user_agent: s.userAgent,
  }).execute();
}

export async function findSession(db: Tx, idHash: string): Promise<SessionRow | undefined> {
  const r = await db.selectFrom('sessions').selectAll().where('id_hash', '=', idHash).executeTakeFirst();
  return r && { idHash: r.id_hash, userId: Number(r.user_id), createdAt: Number(r.created_at), lastSeenAt: Number(r.last_seen_at), expiresAt: Number(r.expires_at) };
}

export async function touchSession(db: Tx, idHash: string, now: number): Promise<void> {
  await db.updateTable('sessions').set({ last_seen_at: now }).where('id_hash', '=', idHash).execute();
}

export async function deleteSession(db: Tx, idHash: string): Promise<void> {
  await db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
}

/** Ends every session of a user. */
export async function deleteSessionsOf(db: Tx, userId: number): Promise<void> {
  await db.deleteFrom('sessions').where('user_id', '=', userId).execute();
}

/** Deletes the sessions expired at `now` or last seen at `idleSince` or before; returns how many. */
export async function deleteStaleSessions(db: Tx, now: number, idleSince: number): Promise<number> {
  const res = await db.deleteFrom('sessions').where((eb) => eb.or([eb('expires_at', '<=', now), eb('last_seen_at', '<=', idleSince)])).executeTakeFirst();
  return Number(res.numDeletedRows);
}
