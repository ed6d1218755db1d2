// Token signing keys (table signing_keys), shared by every Berth process. Private keys arrive sealed
// (auth/db-key-store.ts seals them with the master key); retiring a key drops its private half.
import type { Tx } from './database.js';

export interface SigningKeyRow { kid: string; publicJwk: string; privateKeySealed: string | null; createdAt: number; signUntil: number | null; verifyUntil: number | null }

export async function listSigningKeys(db: Tx): Promise<SigningKeyRow[]> {
  return (await db.selectFrom('signing_keys').selectAll().execute()).map((r) => ({
    kid: r.kid, publicJwk: r.public_jwk, privateKeySealed: r.private_key_sealed, createdAt: Number(r.created_at),
    signUntil: r.sign_until === null ? null : Number(r.sign_until), verifyUntil: r.verify_until === null ? null : Number(r.verify_until),
  }));
}

export async function insertSigningKey(db: Tx, k: SigningKeyRow): Promise<void> {
  await db.insertInto('signing_keys').values({
    kid: k.kid, public_jwk: k.publicJwk, private_key_sealed: k.privateKeySealed, created_at: k.createdAt, sign_until: k.signUntil, verify_until: k.verifyUntil,
  }).execute();
}

/** Stops signing with a key (its private key is deleted) and sets until when tokens it signed verify. */
export async function retireSigningKey(db: Tx, kid: string, signUntil: number, verifyUntil: number): Promise<void> {
  await db.updateTable('signing_keys').set({ sign_until: signUntil, verify_until: verifyUntil, private_key_sealed: null }).where('kid', '=', kid).execute();
}
