// Key-encryption keys in a file Berth reads (mode 0600): {"berth":"storage-keys/v1","keys":[{id,created,key}]}.
// The file is re-read whenever it changed (checked on each use and every minute), so a key another process
// added (`berth keys rotate`) is found, and one it destroyed (`berth keys retire`) is gone, without a restart. Changes are written to a temporary file
// and renamed over the old one, under a lock file, so that no reader ever sees half a file.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyMismatchError, KeyUnavailableError, type KeyProvider } from './key-provider.js';

interface StoredKey { id: string; created: string; key: string }
interface KeyFile { berth: 'storage-keys/v1'; keys: StoredKey[] }

const FORMAT = 'storage-keys/v1';
const IV = 12;
const TAG = 16;

/** How often an idle provider looks whether the file changed, so that a key destroyed elsewhere leaves memory. */
const RECHECK_MS = 60_000;

export class FileKeyProvider implements KeyProvider {
  readonly kind = 'file';
  private keys = new Map<string, Buffer>();
  /** the file as last read (inode, size, mtime): a change made by another process shows here */
  private seen = '';
  private timer?: NodeJS.Timeout;

  private constructor(readonly file: string) {
    this.timer = setInterval(() => { try { this.refresh(); } catch { /* kept until the next use says why */ } }, RECHECK_MS);
    this.timer.unref();
  }

  /** Opens an existing key file; refuses one other users may read. */
  static open(file: string): FileKeyProvider {
    const p = new FileKeyProvider(path.resolve(file));
    try {
      p.reload();
    } catch (e) {
      clearInterval(p.timer);
      throw e;
    }
    return p;
  }

  /** Reads the file again if another process changed it (a key added by a rotation, one destroyed by retirement). */
  private refresh(): void {
    const st = statSync(this.file);
    if (`${st.ino}:${st.size}:${st.mtimeMs}` !== this.seen) this.reload();
  }

  /** Creates the key file with one new key (refuses if it exists); returns the provider and the key id. */
  static create(file: string): { provider: FileKeyProvider; keyId: string } {
    const p = new FileKeyProvider(path.resolve(file));
    mkdirSync(path.dirname(p.file), { recursive: true, mode: 0o700 });
    const keyId = newKeyId();
    const body: KeyFile = { berth: FORMAT, keys: [{ id: keyId, created: new Date().toISOString(), key: randomBytes(32).toString('base64') }] };
    // 'wx': never over an existing file (that would destroy the keys of existing data).
    const fd = openSync(p.file, 'wx', 0o600);
    try { writeSync(fd, `${JSON.stringify(body, null, 2)}\n`); fsyncSync(fd); } finally { closeSync(fd); }
    syncDir(path.dirname(p.file));
    p.reload();
    return { provider: p, keyId };
  }

  static exists(file: string): boolean {
    try { statSync(file); return true; } catch { return false; }
  }

  private reload(): void {
    let st;
    try {
      st = statSync(this.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`the storage key file ${this.file} does not exist`);
      throw e;
    }
    if ((st.mode & 0o077) !== 0) {
      throw new Error(`the storage key file ${this.file} may be read by other users (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
    }
    const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as KeyFile;
    if (parsed.berth !== FORMAT || !Array.isArray(parsed.keys)) throw new Error(`${this.file} is not a Berth storage key file`);
    const keys = new Map<string, Buffer>();
    for (const k of parsed.keys) {
      const key = Buffer.from(k.key, 'base64');
      if (key.length !== 32) throw new Error(`${this.file}: key ${k.id} is not 256 bits`);
      keys.set(k.id, key);
    }
    // Keys no longer in the file (destroyed by a retirement) are wiped, not only dropped.
    for (const [id, old] of this.keys) if (!keys.has(id)) old.fill(0);
    this.keys = keys;
    this.seen = `${st.ino}:${st.size}:${st.mtimeMs}`;
  }

  private key(keyId: string): Buffer {
    // A stat per use: cheap, and a key retired by another process is not used here after its destruction.
    this.refresh();
    let k = this.keys.get(keyId);
    if (!k) {
      this.reload();
      k = this.keys.get(keyId);
    }
    if (!k) throw new KeyUnavailableError(keyId, `it is not in ${this.file}`);
    return k;
  }

  async list(): Promise<string[]> {
    this.reload();
    return [...this.keys.keys()];
  }

  async create(): Promise<string> {
    const keyId = newKeyId();
    await this.change((f) => { f.keys.push({ id: keyId, created: new Date().toISOString(), key: randomBytes(32).toString('base64') }); });
    return keyId;
  }

  async destroy(keyId: string): Promise<void> {
    await this.change((f) => { f.keys = f.keys.filter((k) => k.id !== keyId); });
  }

  async wrap(keyId: string, dataKey: Buffer, aad: Buffer): Promise<Buffer> {
    const iv = randomBytes(IV);
    const c = createCipheriv('aes-256-gcm', this.key(keyId), iv);
    c.setAAD(aad);
    const body = Buffer.concat([c.update(dataKey), c.final()]);
    return Buffer.concat([iv, body, c.getAuthTag()]);
  }

  async unwrap(keyId: string, wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    const key = this.key(keyId);
    if (wrapped.length <= IV + TAG) throw new KeyMismatchError(keyId);
    const d = createDecipheriv('aes-256-gcm', key, wrapped.subarray(0, IV));
    d.setAAD(aad);
    d.setAuthTag(wrapped.subarray(wrapped.length - TAG));
    try {
      return Buffer.concat([d.update(wrapped.subarray(IV, wrapped.length - TAG)), d.final()]);
    } catch {
      throw new KeyMismatchError(keyId);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const k of this.keys.values()) k.fill(0);
    this.keys.clear();
  }

  /** Read-modify-write of the key file under a lock file, replaced atomically. */
  private async change(edit: (f: KeyFile) => void): Promise<void> {
    const lock = `${this.file}.lock`;
    let fd: number | undefined;
    for (let i = 0; fd === undefined; i++) {
      try {
        fd = openSync(lock, 'wx', 0o600);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        // A lock older than a minute was left by a process that died while holding it.
        try { if (Date.now() - statSync(lock).mtimeMs > 60_000) unlinkSync(lock); } catch { /* gone meanwhile */ }
        if (i > 200) throw new Error(`${lock} is held by another process`);
        await sleep(25);
      }
    }
    try {
      const f = JSON.parse(readFileSync(this.file, 'utf8')) as KeyFile;
      edit(f);
      const tmp = `${this.file}.${process.pid}.tmp`;
      const out = openSync(tmp, 'w', 0o600);
      try { writeSync(out, `${JSON.stringify(f, null, 2)}\n`); fsyncSync(out); } finally { closeSync(out); }
      renameSync(tmp, this.file);
      syncDir(path.dirname(this.file));
    } finally {
      closeSync(fd);
      unlinkSync(lock);
    }
    this.reload();
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** Sortable by creation time, unique without coordination. */
export function newKeyId(): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `kek-${t}-${randomBytes(3).toString('hex')}`;
}
