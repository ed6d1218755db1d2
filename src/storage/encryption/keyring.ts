// Data keys: made fresh for every stored file, wrapped by the current key-encryption key, and opened
// again (through the provider) when the file is read. Opened data keys are remembered, bounded, so that
// a busy blob costs one unwrap, not one per read; they stay valid for as long as the file exists, since
// a rotation re-wraps a data key but never changes it.
import { createHash, randomBytes } from 'node:crypto';
import { DATA_KEY_SIZE } from './format.js';
import type { KeyProvider } from './key-provider.js';

const CACHE = 4096;

export class Keyring {
  private readonly opened = new Map<string, Buffer>();

  /**
   * @param current the id of the key new data keys are wrapped with; asked for every new file, so that
   *   a rotation made by another process applies at once
   */
  constructor(readonly provider: KeyProvider, private readonly current: () => Promise<string>) {}

  currentKeyId(): Promise<string> {
    return this.current();
  }

  async create(aad: Buffer): Promise<{ keyId: string; dataKey: Buffer; wrapped: Buffer }> {
    const keyId = await this.current();
    const dataKey = randomBytes(DATA_KEY_SIZE);
    const wrapped = await this.provider.wrap(keyId, dataKey, aad);
    return { keyId, dataKey, wrapped };
  }

  /** Wraps an existing data key with the current key (re-wrapping under a rotation). */
  async wrap(dataKey: Buffer, aad: Buffer, keyId?: string): Promise<{ keyId: string; wrapped: Buffer }> {
    const id = keyId ?? (await this.current());
    return { keyId: id, wrapped: await this.provider.wrap(id, dataKey, aad) };
  }

  async open(keyId: string, wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    const k = createHash('sha256').update(keyId).update('\0').update(wrapped).update(aad).digest('base64');
    const hit = this.opened.get(k);
    if (hit) {
      this.opened.delete(k);
      this.opened.set(k, hit);
      return hit;
    }
    const dataKey = await this.provider.unwrap(keyId, wrapped, aad);
    if (dataKey.length !== DATA_KEY_SIZE) throw new Error(`data key of unexpected size ${dataKey.length}`);
    this.opened.set(k, dataKey);
    if (this.opened.size > CACHE) this.opened.delete(this.opened.keys().next().value!);
    return dataKey;
  }

  /** Forgets opened data keys (after a key was retired, say). */
  forget(): void {
    this.opened.clear();
  }
}
