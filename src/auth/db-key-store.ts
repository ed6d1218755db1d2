// Token signing keys in the database, shared by every Berth process; private keys sealed with the
// master key (kept outside the database), so a copy of the database alone cannot mint tokens.
import type { Db } from '../db/database.js';
import type { SecretBox } from '../lib/secret-box.js';
import type { KeyStore, SigningKey } from './token-service.js';

export class DbKeyStore implements KeyStore {
  constructor(private readonly db: Db, private readonly box: SecretBox) {}

  async list(): Promise<SigningKey[]> {
    const rows = await this.db.selectFrom('signing_keys').selectAll().execute();
    return rows.map((r) => ({
      kid: r.kid,
      publicJwk: JSON.parse(r.public_jwk),
      privatePem: r.private_key_sealed ? this.box.open(r.private_key_sealed, `signing-key:${r.kid}`) : undefined,
      createdAt: Number(r.created_at),
      signUntil: r.sign_until === null ? null : Number(r.sign_until),
      verifyUntil: r.verify_until === null ? null : Number(r.verify_until),
    }));
  }

  async add(key: SigningKey): Promise<void> {
    await this.db.insertInto('signing_keys').values({
      kid: key.kid, public_jwk: JSON.stringify(key.publicJwk),
      private_key_sealed: key.privatePem ? this.box.seal(key.privatePem, `signing-key:${key.kid}`) : null,
      created_at: key.createdAt, sign_until: key.signUntil, verify_until: key.verifyUntil,
    }).execute();
  }

  async retire(kid: string, signUntil: number, verifyUntil: number): Promise<void> {
    await this.db.updateTable('signing_keys').set({ sign_until: signUntil, verify_until: verifyUntil, private_key_sealed: null }).where('kid', '=', kid).execute();
  }
}
