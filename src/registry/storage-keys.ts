// Encryption at rest, as the operator manages it: which key-encryption keys exist (the database says;
// the material stays in its provider), checking at start that the provider holds the right ones,
// rotation (a new key, then a background walk that re-wraps every data key), retirement (only once no
// stored file needs the key), and the walk that encrypts a store when encryption is turned on and
// decrypts it when it is turned off, while the registry serves.
import { createHash, randomBytes } from 'node:crypto';
import type { MetadataStore } from '../db/database.js';
import { currentEncryptionKeyId, insertEncryptionKey, listEncryptionKeys, retireEncryptionKey, type EncryptionKeyRow } from '../db/encryption-keys.js';
import { BerthError } from '../errors/berth-error.js';
import { UnreadableDataError, type StorageDriver } from '../storage/driver.js';
import { CONVERT_PREFIX, ENCRYPTED_SUFFIX, EncryptingDriver } from '../storage/encryption/encrypting-driver.js';
import { KeyMismatchError, KeyUnavailableError, type KeyProvider } from '../storage/encryption/key-provider.js';
import { Keyring } from '../storage/encryption/keyring.js';
import type { Journal, RequestContext } from '../audit/journal.js';
import { BLOBS_PREFIX, TRASH_PREFIX, UPLOADS_PREFIX } from './paths.js';

export const STORAGE_ENCRYPTION_JOB = 'storage.encryption';
const CHECK_AAD = Buffer.from('berth/key-check/v1', 'latin1');
/** An upload untouched this long is converted by the walk; a busier one converts itself on its next chunk. */
const IDLE_UPLOAD_MS = 10 * 60_000;
/** What a conversion cut off by a crash left behind is removed after this long. */
const STALE_CONVERSION_MS = 60 * 60_000;

export interface WalkReport {
  /** what the walk made of the store: everything encrypted under the current key, or everything plain */
  mode: 'encrypt' | 'decrypt';
  currentKey: string | null;
  files: number;
  encrypted: number;
  rewrapped: number;
  decrypted: number;
  /** files left as they are because they could not be converted (the first errors are in `errors`) */
  failed: number;
  /** after the walk: files per key that opens them, and plain ones */
  byKey: Record<string, number>;
  plain: number;
  /** busy uploads left for their next chunk to convert */
  skippedUploads: number;
  /** uploads a crash cut off in their first write: unreadable, holding nothing acknowledged; upload expiry removes them */
  abandonedUploads: number;
  complete: boolean;
  errors: string[];
}

export interface WalkContext { signal?: AbortSignal; progress?(phase: string, fields: Record<string, unknown>): void }

export interface KeyStatus {
  id: string; state: 'active' | 'retired'; current: boolean; present: boolean; createdAt: number; retiredAt: number | null;
}

export class StorageKeys {
  private constructor(
    private readonly meta: MetadataStore, readonly driver: EncryptingDriver, readonly provider: KeyProvider,
    private readonly journal: Journal, readonly encryptWrites: boolean,
  ) {}

  /** True when the store holds any encrypted file: then no new key may be made for it. */
  static async holdsEncryptedData(inner: StorageDriver): Promise<boolean> {
    for (const prefix of [BLOBS_PREFIX, UPLOADS_PREFIX, TRASH_PREFIX]) {
      for await (const e of inner.list(prefix)) if (e.path.endsWith(ENCRYPTED_SUFFIX)) return true;
    }
    return false;
  }

  /** Active key rows: a registry with none has never encrypted anything (or has decrypted everything). */
  static async activeKeys(meta: MetadataStore): Promise<EncryptionKeyRow[]> {
    return (await listEncryptionKeys(meta.db)).filter((k) => k.state === 'active');
  }

  /**
   * Checks the provider against the database and returns the encrypting store. The first start with
   * encryption registers the keys the provider holds (making one when it holds none, and the store no
   * encrypted file); later starts refuse a provider that lacks an active key or holds another key
   * under its id, with a message that says which.
   */
  static async open(meta: MetadataStore, inner: StorageDriver, provider: KeyProvider, journal: Journal, opts: { encryptWrites: boolean; where: string }): Promise<StorageKeys> {
    const active = await StorageKeys.activeKeys(meta);
    const present = await provider.list();
    if (active.length === 0) {
      if (!opts.encryptWrites) throw new Error('encryption at rest is off and no storage key is active: nothing to open');
      if (await StorageKeys.holdsEncryptedData(inner)) {
        throw new Error(`the store holds encrypted files but the database knows no storage key; Berth will not make a new key over them (restore the database that goes with this store)`);
      }
      // Keys the database knows were retired when the store was decrypted; turning encryption on again starts afresh.
      const known = new Set((await listEncryptionKeys(meta.db)).map((k) => k.id));
      const fresh = present.filter((id) => !known.has(id));
      const ids = fresh.length > 0 ? fresh : [await provider.create()];
      const now = Date.now();
      for (const [i, id] of ids.entries()) await register(meta, provider, id, now + i);
    } else {
      for (const k of active) {
        try {
          const canary = await provider.unwrap(k.id, k.checkWrapped, CHECK_AAD);
          if (sha256(canary) !== k.checkDigest) throw new KeyMismatchError(k.id);
        } catch (e) {
          if (e instanceof KeyUnavailableError) {
            throw new Error(`storage key ${k.id} is missing from ${opts.where}; the encrypted blobs need it, so Berth does not start without it (restore the key from its backup)`);
          }
          if (e instanceof KeyMismatchError) {
            throw new Error(`storage key ${k.id} in ${opts.where} is not the key this registry's data was encrypted with (its check value does not open); restore the right key`);
          }
          throw e;
        }
      }
    }
    const keyring = new Keyring(provider, async () => {
      const id = await currentEncryptionKeyId(meta.db);
      if (!id) throw new Error('no active storage key');
      return id;
    });
    return new StorageKeys(meta, new EncryptingDriver(inner, keyring, { encryptWrites: opts.encryptWrites }), provider, journal, opts.encryptWrites);
  }

  async keys(): Promise<KeyStatus[]> {
    const [rows, present, current] = await Promise.all([listEncryptionKeys(this.meta.db), this.provider.list(), currentEncryptionKeyId(this.meta.db)]);
    return rows.map((r) => ({ id: r.id, state: r.state, current: r.id === current, present: present.includes(r.id), createdAt: r.createdAt, retiredAt: r.retiredAt }));
  }

  /** A new key-encryption key, current from now on in every process; the walk then re-wraps what exists. */
  async rotate(ctx: RequestContext): Promise<string> {
    if (!this.encryptWrites) throw new BerthError('CONFLICT', { message: 'encryption at rest is off (storage.encryption.enabled: false); nothing to rotate to' });
    const previous = await currentEncryptionKeyId(this.meta.db);
    const id = await this.provider.create();
    await register(this.meta, this.provider, id, Date.now());
    await this.journal.record(ctx, [{ action: 'storage.key.rotate', resource: `storage-key:${id}`, detail: { previous, provider: this.provider.kind } }]);
    return id;
  }

  /**
   * Destroys a key for good, once no stored file needs it: refused for the current key and while any
   * file (blob, upload, collected blob) opens only with it. Looks at every file's header.
   */
  async retire(id: string, ctx: RequestContext, walk?: WalkContext): Promise<void> {
    const row = (await listEncryptionKeys(this.meta.db)).find((k) => k.id === id);
    if (!row || row.state !== 'active') throw new BerthError('NOT_FOUND', { message: `no active storage key ${id}` });
    if ((await currentEncryptionKeyId(this.meta.db)) === id) {
      throw new BerthError('CONFLICT', { message: `storage key ${id} is the current key; rotate to a new one first (berth keys rotate)` });
    }
    let users = 0;
    let seen = 0;
    for (const prefix of [BLOBS_PREFIX, UPLOADS_PREFIX, TRASH_PREFIX]) {
      for await (const f of this.driver.files(prefix)) {
        walk?.signal?.throwIfAborted();
        if (!f.encrypted) continue;
        const form = await this.driver.inspect(f.path).catch(() => null);
        if (form?.encrypted && form.keyId === id) users++;
        if (++seen % 1000 === 0) walk?.progress?.('checking', { files: seen, using: users });
      }
    }
    if (users > 0) {
      throw new BerthError('CONFLICT', { message: `${users} stored file(s) still open only with storage key ${id}; let the re-wrap run finish (berth keys status), then retire it`, detail: { files: users } });
    }
    await this.provider.destroy(id);
    await retireEncryptionKey(this.meta.db, id, Date.now());
    this.driver.keys.forget();
    await this.journal.record(ctx, [{ action: 'storage.key.retire', resource: `storage-key:${id}`, detail: { provider: this.provider.kind, checked: seen } }]);
  }

  /** True when the last complete walk left the store as the configuration wants it now. */
  static upToDate(last: WalkReport | undefined, encryptWrites: boolean, currentKey: string | null): boolean {
    return Boolean(last && last.complete && last.mode === (encryptWrites ? 'encrypt' : 'decrypt') && (!encryptWrites || last.currentKey === currentKey));
  }

  currentKey(): Promise<string | null> {
    return currentEncryptionKeyId(this.meta.db).then((id) => id ?? null);
  }

  /**
   * Brings every stored file to the form the configuration asks for: encrypted under the current key
   * (plain files encrypted, other keys' files re-wrapped), or plain. Each file changes atomically, so
   * the walk can stop (or die) anywhere and be run again. Blobs are checked against their digest as
   * they are converted.
   */
  async walk(ctx: WalkContext = {}): Promise<WalkReport> {
    const current = this.encryptWrites ? await this.currentKey() : null;
    const report: WalkReport = {
      mode: this.encryptWrites ? 'encrypt' : 'decrypt', currentKey: current, files: 0, encrypted: 0, rewrapped: 0, decrypted: 0, failed: 0,
      byKey: {}, plain: 0, skippedUploads: 0, abandonedUploads: 0, complete: false, errors: [],
    };
    const cleaned = await this.driver.cleanConversions(STALE_CONVERSION_MS);
    const seen = new Set<string>();
    let last = 0;
    const progress = (force = false) => {
      if (!ctx.progress || (!force && Date.now() - last < 1000)) return;
      last = Date.now();
      const { errors: _e, byKey: _b, ...counts } = report;
      ctx.progress('converting', counts);
    };
    for (const prefix of [BLOBS_PREFIX, TRASH_PREFIX, UPLOADS_PREFIX]) {
      for await (const f of this.driver.files(prefix)) {
        ctx.signal?.throwIfAborted();
        if (seen.has(f.path)) continue; // both forms of a file a conversion left midway
        if (f.path.startsWith(`${CONVERT_PREFIX}/`)) continue;
        seen.add(f.path);
        report.files++;
        try {
          await this.bring(f.path, prefix, report);
        } catch (e) {
          report.failed++;
          if (report.errors.length < 20) report.errors.push(`${f.path}: ${e instanceof Error ? e.message : String(e)}`);
        }
        progress();
      }
    }
    progress(true);
    // A busy plain upload encrypts itself with its next chunk (or expires), so it does not hold up an
    // encrypting walk; a busy encrypted one does hold up a decrypting walk, which retires the keys.
    report.complete = report.failed === 0 && (this.encryptWrites || report.skippedUploads === 0);
    if (!this.encryptWrites && report.complete) {
      // Nothing encrypted is left: the keys are no longer needed to read the store (their material stays
      // in the provider until the operator removes it).
      const now = Date.now();
      for (const k of await StorageKeys.activeKeys(this.meta)) await retireEncryptionKey(this.meta.db, k.id, now);
    }
    return { ...report, ...(cleaned ? { cleanedConversions: cleaned } : {}) };
  }

  private async bring(p: string, prefix: string, report: WalkReport): Promise<void> {
    let form;
    try {
      form = await this.driver.inspect(p);
    } catch (e) {
      if (prefix !== UPLOADS_PREFIX || !(e instanceof UnreadableDataError)) throw e;
      report.abandonedUploads++;
      return;
    }
    if (!form) return; // gone meanwhile (collected, published)
    const digest = prefix === BLOBS_PREFIX ? sha256Of(p) : undefined;
    if (this.encryptWrites) {
      // A plain twin (a decryption cut off between its move and its removal of the encrypted form) must go too.
      if (form.encrypted && (prefix !== UPLOADS_PREFIX || (await this.idle(p)))) await this.driver.tidy(p);
      if (!form.encrypted) {
        if (prefix === UPLOADS_PREFIX && !(await this.idle(p))) { report.skippedUploads++; report.plain++; return; }
        if (await this.driver.convert(p, 'encrypted', digest)) report.encrypted++;
      } else if ((await this.driver.rewrap(p)) === 'rewrapped') {
        report.rewrapped++;
      }
      const now = await this.driver.inspect(p);
      if (now?.encrypted) report.byKey[now.keyId] = (report.byKey[now.keyId] ?? 0) + 1;
      else if (now) report.plain++;
    } else {
      if (form.encrypted) {
        if (prefix === UPLOADS_PREFIX && !(await this.idle(p))) { report.skippedUploads++; report.byKey[form.keyId] = (report.byKey[form.keyId] ?? 0) + 1; return; }
        if (await this.driver.convert(p, 'plain', digest)) report.decrypted++;
      }
      report.plain++;
    }
  }

  private async idle(p: string): Promise<boolean> {
    // Not stat: that settles the file, which must not happen beside a writer.
    const at = await this.driver.modifiedAt(p);
    return !at || Date.now() - at.getTime() > IDLE_UPLOAD_MS;
  }
}

async function register(meta: MetadataStore, provider: KeyProvider, id: string, createdAt: number): Promise<void> {
  const canary = randomBytes(32);
  const checkWrapped = await provider.wrap(id, canary, CHECK_AAD);
  await insertEncryptionKey(meta.db, { id, provider: provider.kind, createdAt, checkWrapped, checkDigest: sha256(canary) });
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The sha256 digest a blob path names (blobs/sha256/ab/<hex>), if it names one. */
function sha256Of(p: string): string | undefined {
  const m = /^blobs\/sha256\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(p);
  return m?.[1];
}
