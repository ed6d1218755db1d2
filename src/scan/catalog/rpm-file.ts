// rpm databases are files with pages that point at each other (BerkeleyDB, SQLite, NDB): they need random
// access, and they can be hundreds of megabytes. A streamed database is spooled to a private temporary file
// and read page by page from there, so memory stays at a few pages whatever its size.
import { createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CatalogError, type FileContent } from './types.js';

export interface RandomAccess {
  readonly size: number;
  /** length bytes from offset; fewer only where the file ends */
  read(offset: number, length: number): Promise<Buffer>;
}

export function bufferAccess(data: Buffer): RandomAccess {
  return {
    size: data.length,
    read: async (offset, length) => data.subarray(Math.min(offset, data.length), Math.min(offset + length, data.length)),
  };
}

/** Opens a file for reads at any offset; close() when done. */
export async function fileAccess(file: string): Promise<RandomAccess & { close(): Promise<void> }> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    return {
      size,
      async read(offset, length) {
        const want = Math.max(0, Math.min(length, size - offset));
        const buf = Buffer.allocUnsafe(want);
        let got = 0;
        while (got < want) {
          const { bytesRead } = await fh.read(buf, got, want - got, offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return got === want ? buf : buf.subarray(0, got);
      },
      close: () => fh.close(),
    };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * Runs fn over the file's content: a buffer directly, a stream after spooling it to a temporary file
 * (os.tmpdir()/berth-rpmdb-*, removed afterwards whatever happens). More than maxBytes is refused.
 */
export async function withRandomAccess<T>(content: FileContent, maxBytes: number, fn: (file: RandomAccess) => Promise<T>): Promise<T> {
  if (content.kind === 'buffer') return fn(bufferAccess(content.data));
  if (content.size > maxBytes) throw new CatalogError(`rpm database of ${content.size} bytes exceeds the ${maxBytes}-byte limit`);
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-rpmdb-'));
  try {
    const spool = path.join(dir, 'db');
    let seen = 0;
    // The size the walker announced is not trusted: the bytes that arrive are counted. Past the limit the
    // rest is read and dropped rather than the stream destroyed (it is the walker's, inside a layer).
    const limit = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        seen += chunk.length;
        cb(null, seen > maxBytes ? undefined : chunk);
      },
    });
    await pipeline(content.stream, limit, createWriteStream(spool, { mode: 0o600 }));
    if (seen > maxBytes) throw new CatalogError(`rpm database of ${seen} bytes exceeds the ${maxBytes}-byte limit`);
    const file = await fileAccess(spool);
    try {
      return await fn(file);
    } finally {
      await file.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
