// In-memory driver for tests and throwaway instances. It necessarily holds every byte in memory.
import { Readable, Writable } from 'node:stream';
import { assertSafePath, NotFoundError, type StorageDriver, type StorageEntry, type StorageStat, type StorageWriter } from '../../driver.js';

interface File { data: Buffer; modifiedAt: Date }

export class MemoryDriver implements StorageDriver {
  readonly name = 'memory';
  private readonly files = new Map<string, File>();

  async stat(p: string): Promise<StorageStat | null> {
    assertSafePath(p);
    const f = this.files.get(p);
    return f ? { size: f.data.length, modifiedAt: f.modifiedAt } : null;
  }

  async read(p: string, opts: { start?: number; end?: number; signal?: AbortSignal } = {}): Promise<Readable> {
    assertSafePath(p);
    const f = this.files.get(p);
    if (!f) throw new NotFoundError(p);
    const slice = f.data.subarray(opts.start ?? 0, opts.end === undefined ? undefined : opts.end + 1);
    return Readable.from([slice], { objectMode: false, signal: opts.signal });
  }

  async readBuffer(p: string, opts: { start?: number; end?: number } = {}): Promise<Buffer> {
    assertSafePath(p);
    const f = this.files.get(p);
    if (!f) throw new NotFoundError(p);
    return Buffer.from(f.data.subarray(opts.start ?? 0, opts.end === undefined ? undefined : opts.end + 1));
  }

  async write(p: string, opts: { offset?: number; signal?: AbortSignal } = {}): Promise<StorageWriter> {
    assertSafePath(p);
    const offset = opts.offset ?? 0;
    const existing = this.files.get(p);
    if (offset > 0 && (!existing || existing.data.length < offset)) throw new Error(`cannot write at ${offset}: file shorter`);
    const parts: Buffer[] = offset > 0 ? [existing!.data.subarray(0, offset)] : [];
    const files = this.files;
    const flush = () => files.set(p, { data: Buffer.concat(parts), modifiedAt: new Date() });
    flush();
    const ws = new Writable({
      signal: opts.signal,
      write(chunk: Buffer, _enc, cb) { parts.push(Buffer.from(chunk)); cb(); },
      final(cb) { flush(); cb(); },
    }) as StorageWriter;
    ws.commit = async () => { flush(); };
    ws.abort = async () => { ws.destroy(); };
    ws.releasesChunks = true; // chunks are copied on write
    return ws;
  }

  async overwrite(p: string, offset: number, data: Buffer): Promise<void> {
    assertSafePath(p);
    const f = this.files.get(p);
    if (!f) throw new NotFoundError(p);
    if (f.data.length < offset + data.length) throw new Error(`cannot overwrite ${p} past its end`);
    const copy = Buffer.from(f.data);
    data.copy(copy, offset);
    this.files.set(p, { data: copy, modifiedAt: new Date() });
  }

  async move(from: string, to: string): Promise<void> {
    assertSafePath(from); assertSafePath(to);
    const f = this.files.get(from);
    if (!f) throw new NotFoundError(from);
    this.files.set(to, f);
    this.files.delete(from);
  }

  async delete(p: string): Promise<void> {
    assertSafePath(p);
    this.files.delete(p);
    for (const k of [...this.files.keys()]) if (k.startsWith(`${p}/`)) this.files.delete(k);
  }

  async *list(prefix: string): AsyncIterable<StorageEntry> {
    assertSafePath(prefix);
    for (const [k, f] of [...this.files]) {
      if (k.startsWith(`${prefix}/`)) yield { path: k, size: f.data.length, modifiedAt: f.modifiedAt };
    }
  }
}
