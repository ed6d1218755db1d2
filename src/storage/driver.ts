// The storage driver contract. Drivers hold bytes under driver-relative paths; they know nothing of
// digests or repositories. Every driver passes test/unit/storage-driver.suite.ts.
import type { Readable, Writable } from 'node:stream';

export interface StorageStat {
  size: number;
  modifiedAt: Date;
}

export interface StorageEntry extends StorageStat {
  path: string;
}

export interface StorageWriter extends Writable {
  /**
   * After the stream finished: release the file, and unless `durable` is false make the bytes
   * survive power loss first.
   */
  commit(opts?: { durable?: boolean }): Promise<void>;
  /** Abandon the write and release the file (bytes already written may remain). */
  abort(): Promise<void>;
  /**
   * True when the writer keeps no reference to a chunk once its write callback ran, so the caller may
   * hand the chunk's memory elsewhere (another thread) afterwards.
   */
  releasesChunks?: boolean;
}

/** An open byte range, ready to be copied to a sink: opening fails before any byte is sent. */
export interface RangeSource {
  /** Copies the range into sink (without ending it); resolves with the bytes copied. */
  pipeTo(sink: Writable, signal?: AbortSignal): Promise<number>;
  close(): Promise<void>;
}

export interface StorageDriver {
  readonly name: string;
  /**
   * Every committed write is durable already (an object store): a caller need not rewrite a file only to
   * make it durable, which on such a store would copy it whole.
   */
  readonly durableWrites?: boolean;
  /** null when nothing is stored at path */
  stat(path: string): Promise<StorageStat | null>;
  /** Bytes [start, end] (inclusive) of path; throws NotFoundError when absent. */
  read(path: string, opts?: { start?: number; end?: number; signal?: AbortSignal }): Promise<Readable>;
  /** Bytes [start, end] of a small file, whole in memory: for content that fits a few network packets. */
  readBuffer(path: string, opts?: { start?: number; end?: number }): Promise<Buffer>;
  /** Optional fast path for serving large content; callers fall back to read() without it. */
  openRange?(path: string, start: number, end: number): Promise<RangeSource>;
  /** Writes starting at offset (default 0), discarding anything stored past it. */
  write(path: string, opts?: { offset?: number; signal?: AbortSignal }): Promise<StorageWriter>;
  /**
   * Optional: replaces bytes [offset, offset + data.length) of an existing file in place, durably, leaving
   * the rest as it is (encryption at rest re-wraps a header slot with it). Callers without it rewrite the file.
   */
  overwrite?(path: string, offset: number, data: Buffer): Promise<void>;
  /**
   * Atomically puts `from` at `to`, replacing what was there; durably unless `durable: false` (a caller
   * that is safe with either name after a power failure, such as a collection moving a blob aside).
   */
  move(from: string, to: string, opts?: { durable?: boolean }): Promise<void>;
  /** Removes a file or everything below a folder; absent paths are not an error. */
  delete(path: string): Promise<void>;
  /** Every file below prefix, recursively, in no particular order. */
  list(prefix: string): AsyncIterable<StorageEntry>;
  /**
   * Optional: gives up writes begun before `before` and never committed nor aborted (a process killed
   * while writing: an object store's incomplete multipart uploads, which hold space); returns how many.
   */
  abandonWritesBefore?(before: Date): Promise<number>;
  /** Optional: a URL that serves the bytes at path to whoever holds it, for `expiresInSeconds` (presigned). */
  presign?(path: string, expiresInSeconds: number): Promise<string>;
}

export class NotFoundError extends Error {
  constructor(readonly path: string) {
    super(`not found: ${path}`);
  }
}

/**
 * Stored bytes that must not be served: they fail an integrity check (altered, truncated, reordered), or
 * the key that opens them is unavailable. Drivers that can tell (encryption at rest) throw it, also as the
 * error of a read stream.
 */
export class UnreadableDataError extends Error {
  constructor(readonly path: string, readonly reason: string) {
    super(`stored data of ${path} cannot be served: ${reason}`);
  }
}

const SAFE_PATH = /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

/** Driver paths are relative, slash-separated, with no "." or ".." segments. */
export function assertSafePath(p: string): void {
  if (!SAFE_PATH.test(p) || p.split('/').some((s) => s === '.' || s === '..')) {
    throw new Error(`unsafe storage path: ${JSON.stringify(p)}`);
  }
}
