// Token signing keys in the database, shared by every Berth process; private keys sealed with the
// master key (kept outside the database), so a copy of the database alone cannot mint tokens.
import type { Db } from '../db/database.js';
import { insertSigningKey, listSigningKeys, retireSigningKey } from '../db/signing-keys.js';
import type { SecretBox } from '../lib/secret-box.js';
import type { KeyStore, SigningKey } from './token-service.js';

export class DbKeyStore implements KeyStore {
  constructor(private readonly db: Db, private readonly box: SecretBox) {}

  async list(): Promise<SigningKey[]> {
    const rows = await listSigningKeys(this.db);
    return rows.map((r) => ({
      kid: r.kid,
      publicJwk: JSON.parse(r.publicJwk),
      privatePem: r.privateKeySealed ? this.box.open(r.privateKeySealed, `signing-key:${r.kid}`) : undefined,
      createdAt: r.createdAt,
      signUntil: r.signUntil,
      verifyUntil: r.verifyUntil,
    }));
  }

  async add(key: SigningKey): Promise<void> {
    await insertSigningKey(this.db, {
      kid: key.kid, publicJwk: JSON.stringify(key.publicJwk),
      privateKeySealed: key.privatePem ? this.box.seal(key.privatePem, `signing-key:${key.kid}`) : null,
      createdAt: key.createdAt, signUntil: key.signUntil, verifyUntil: key.verifyUntil,
    });
  }

  async retire(kid: string, signUntil: number, verifyUntil: number): Promise<void> {
    await retireSigningKey(this.db, kid, signUntil, verifyUntil);
  }
}
