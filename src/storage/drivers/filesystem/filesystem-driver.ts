// Local (or shared, e.g. NFS) filesystem driver. Writes are fsynced on commit and moves fsync the
// target folder, so a published file survives power loss.
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { assertSafePath, NotFoundError, type StorageDriver, type StorageEntry, type StorageStat, type StorageWriter } from '../../driver.js';

const READ_CHUNK = 512 * 1024;
const WRITE_CHUNK = 1024 * 1024;

export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  private readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  private resolve(p: string): string {
    assertSafePath(p);
    const full = path.join(this.root, p);
    if (!full.startsWith(this.root + path.sep)) throw new Error(`path escapes storage root: ${p}`);
    return full;
  }

  async stat(p: string): Promise<StorageStat | null> {
    try {
      const s = await stat(this.resolve(p));
      return s.isFile() ? { size: s.size, modifiedAt: s.mtime } : null;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async read(p: string, opts: { start?: number; end?: number; signal?: AbortSignal } = {}): Promise<Readable> {
    const full = this.resolve(p);
    let fh;
    try {
      fh = await open(full, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(p);
      throw e;
    }
    return fh.createReadStream({ start: opts.start, end: opts.end, highWaterMark: READ_CHUNK, signal: opts.signal });
  }

  async readBuffer(p: string, opts: { start?: number; end?: number } = {}): Promise<Buffer> {
    let fh;
    try {
      fh = await open(this.resolve(p), 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(p);
      throw e;
    }
    try {
      const start = opts.start ?? 0;
      const end = opts.end ?? (await fh.stat()).size - 1;
      const buf = Buffer.allocUnsafe(Math.max(end - start + 1, 0));
      let off = 0;
      while (off < buf.length) {
        const { bytesRead } = await fh.read(buf, off, buf.length - off, start + off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      return off === buf.length ? buf : buf.subarray(0, off);
    } finally {
      await fh.close();
    }
  }

  async write(p: string, opts: { offset?: number; signal?: AbortSignal } = {}): Promise<StorageWriter> {
    const full = this.resolve(p);
    await mkdir(path.dirname(full), { recursive: true });
    const offset = opts.offset ?? 0;
    if (offset > 0) await truncate(full, offset);
    const ws = createWriteStream(full, { flags: offset > 0 ? 'r+' : 'w', start: offset, highWaterMark: WRITE_CHUNK }) as unknown as StorageWriter;
    const closed = new Promise<void>((resolve) => ws.once('close', resolve));
    ws.commit = async () => {
      if (!ws.closed) await closed;
      // fsync applies to the file, not the descriptor: a fresh one flushes what the stream wrote.
      const fh = await open(full, 'r+');
      try { await fh.sync(); } finally { await fh.close(); }
    };
    ws.abort = async () => {
      if (!ws.destroyed) ws.destroy();
      if (!ws.closed) await closed;
    };
    return ws;
  }

  async move(from: string, to: string): Promise<void> {
    const src = this.resolve(from);
    const dst = this.resolve(to);
    const dir = path.dirname(dst);
    await mkdir(dir, { recursive: true });
    try {
      await rename(src, dst);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(from);
      throw e;
    }
    const dh = await open(dir, 'r');
    try { await dh.sync(); } finally { await dh.close(); }
  }

  async delete(p: string): Promise<void> {
    await rm(this.resolve(p), { recursive: true, force: true });
  }

  async *list(prefix: string): AsyncIterable<StorageEntry> {
    const base = this.resolve(prefix);
    const walk = async function* (dir: string, rel: string): AsyncGenerator<StorageEntry> {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw e;
      }
      for (const ent of entries) {
        const child = path.join(dir, ent.name);
        const childRel = `${rel}/${ent.name}`;
        if (ent.isDirectory()) yield* walk(child, childRel);
        else if (ent.isFile()) {
          try {
            const s = await stat(child);
            yield { path: childRel, size: s.size, modifiedAt: s.mtime };
          } catch { /* removed meanwhile */ }
        }
      }
    };
    yield* walk(base, prefix);
  }
}
