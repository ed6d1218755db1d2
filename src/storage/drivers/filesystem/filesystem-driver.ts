// Local (or shared, e.g. NFS) filesystem driver. Writes are fsynced on commit and moves fsync the
// target folder, so a published file survives power loss.
import { createWriteStream, fdatasync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, truncate, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { assertSafePath, NotFoundError, type RangeSource, type StorageDriver, type StorageEntry, type StorageStat, type StorageWriter } from '../../driver.js';

/** ENOENT, or ENOTDIR for a path below a file: nothing is stored there. */
const isAbsent = (e: unknown) => ['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '');

const COPY_CHUNK = 2 * 1024 * 1024;
const COPY_BUFFERS = 3;
const READ_CHUNK = 512 * 1024;
const WRITE_CHUNK = 1024 * 1024;
const EARLY_SYNC_BYTES = 4 * 1024 * 1024;

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
      if (isAbsent(e)) return null;
      throw e;
    }
  }

  async read(p: string, opts: { start?: number; end?: number; signal?: AbortSignal } = {}): Promise<Readable> {
    const full = this.resolve(p);
    const fh = await this.openFile(p);
    return fh.createReadStream({ start: opts.start, end: opts.end, highWaterMark: READ_CHUNK, signal: opts.signal });
  }

  /** Opens a regular file for reading; anything else (missing, a folder, below a file) is NotFoundError. */
  private async openFile(p: string): Promise<FileHandle> {
    let fh: FileHandle;
    try {
      fh = await open(this.resolve(p), 'r');
    } catch (e) {
      if (isAbsent(e) || (e as NodeJS.ErrnoException).code === 'EISDIR') throw new NotFoundError(p);
      throw e;
    }
    if (!(await fh.stat()).isFile()) {
      await fh.close();
      throw new NotFoundError(p);
    }
    return fh;
  }

  /**
   * Serves a range with two reused buffers: the next read overlaps the previous socket write, and no
   * buffer is allocated (or page-faulted) per chunk, which a read stream would do.
   */
  async openRange(p: string, start: number, end: number): Promise<RangeSource> {
    const fh = await this.openFile(p);
    return {
      async pipeTo(sink: Writable, signal?: AbortSignal): Promise<number> {
        const bufs = Array.from({ length: COPY_BUFFERS }, () => Buffer.allocUnsafe(COPY_CHUNK));
        let failure: Error | undefined;
        const fail = (e: Error) => { failure ??= e; };
        const onClose = () => fail(new Error('sink closed'));
        sink.once('close', onClose);
        sink.once('error', fail);
        signal?.addEventListener('abort', onClose, { once: true });
        const write = (chunk: Buffer) => new Promise<void>((resolve, reject) => {
          const onGone = () => reject(failure ?? new Error('sink closed'));
          sink.once('close', onGone);
          sink.write(chunk, (err) => { sink.off('close', onGone); if (err) reject(err); else resolve(); });
        });
        let pos = start;
        let i = 0;
        // writes[k] is the socket write of bufs[k]; a buffer is refilled only after its write finished.
        const writes: (Promise<void> | undefined)[] = new Array(COPY_BUFFERS);
        try {
          while (pos <= end) {
            if (failure) throw failure;
            await writes[i];
            const buf = bufs[i];
            const { bytesRead } = await fh.read(buf, 0, Math.min(COPY_CHUNK, end - pos + 1), pos);
            if (bytesRead === 0) throw new Error(`unexpected end of ${p} at ${pos}`);
            const w = write(buf.subarray(0, bytesRead));
            w.catch(() => undefined); // observed when awaited; never an unhandled rejection meanwhile
            writes[i] = w;
            pos += bytesRead;
            i = (i + 1) % COPY_BUFFERS;
          }
          await Promise.all(writes);
        } finally {
          await Promise.allSettled(writes);
          sink.off('close', onClose);
          sink.off('error', fail);
          signal?.removeEventListener('abort', onClose);
        }
        return pos - start;
      },
      close: () => fh.close(),
    };
  }

  async readBuffer(p: string, opts: { start?: number; end?: number } = {}): Promise<Buffer> {
    const fh = await this.openFile(p);
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
    const ws = createWriteStream(full, { flags: offset > 0 ? 'r+' : 'w', start: offset, highWaterMark: WRITE_CHUNK, signal: opts.signal }) as unknown as StorageWriter;
    const closed = new Promise<void>((resolve) => ws.once('close', resolve));
    // Start writeback while bytes still arrive, so the final fsync has little left to flush. Positions
    // are absolute, so an upload sent as many small chunks gets the same periodic syncs.
    let position = offset;
    let syncedUpTo = offset - (offset % EARLY_SYNC_BYTES);
    let syncing = false;
    const write = ws.write.bind(ws) as (chunk: Buffer, ...rest: unknown[]) => boolean;
    (ws as { write: typeof write }).write = (chunk: Buffer, ...rest: unknown[]) => {
      position += chunk.length;
      const fd = (ws as unknown as { fd: number | null }).fd;
      if (position - syncedUpTo >= EARLY_SYNC_BYTES && !syncing && typeof fd === 'number') {
        syncedUpTo = position;
        syncing = true;
        fdatasync(fd, () => { syncing = false; });
      }
      return write(chunk, ...rest);
    };
    ws.commit = async ({ durable = true } = {}) => {
      if (!ws.closed) await closed;
      if (!durable) return;
      // fsync applies to the file, not the descriptor: a fresh one flushes what the stream wrote.
      const fh = await open(full, 'r+');
      try { await fh.sync(); } finally { await fh.close(); }
    };
    ws.abort = async () => {
      if (!ws.destroyed) ws.destroy();
      if (!ws.closed) await closed;
    };
    ws.releasesChunks = true; // fs.write/writev are done with a buffer when they call back
    return ws;
  }

  async overwrite(p: string, offset: number, data: Buffer): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await open(this.resolve(p), 'r+');
    } catch (e) {
      if (isAbsent(e)) throw new NotFoundError(p);
      throw e;
    }
    try {
      if ((await fh.stat()).size < offset + data.length) throw new Error(`cannot overwrite ${p} past its end`);
      let off = 0;
      while (off < data.length) off += (await fh.write(data, off, data.length - off, offset + off)).bytesWritten;
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }

  async move(from: string, to: string, opts: { durable?: boolean } = {}): Promise<void> {
    const src = this.resolve(from);
    const dst = this.resolve(to);
    const dir = path.dirname(dst);
    await mkdir(dir, { recursive: true });
    try {
      await rename(src, dst);
    } catch (e) {
      if (isAbsent(e)) throw new NotFoundError(from);
      throw e;
    }
    if (opts.durable === false) return;
    const dh = await open(dir, 'r');
    try { await dh.sync(); } finally { await dh.close(); }
  }

  async delete(p: string): Promise<void> {
    try {
      await rm(this.resolve(p), { recursive: true, force: true });
    } catch (e) {
      if (!isAbsent(e)) throw e;
    }
  }

  async *list(prefix: string): AsyncIterable<StorageEntry> {
    const base = this.resolve(prefix);
    const walk = async function* (dir: string, rel: string): AsyncGenerator<StorageEntry> {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if (isAbsent(e)) return;
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
