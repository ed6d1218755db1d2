// Blob upload sessions: monolithic, streamed and chunked (distribution-spec "Pushing blobs").
// Bytes are hashed while they stream to storage (on a hashing thread once the sink has written them);
// the running hash stays in this process, and a process that lacks it (after a restart, or another
// instance) rebuilds it once from the stored bytes.
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { MetadataStore } from '../db/database.js';
import { BerthError } from '../errors/berth-error.js';
import { HashPool, type IncrementalHash } from '../lib/hash-pool.js';
import { KeyedMutex } from '../lib/keyed-mutex.js';
import { pump } from '../lib/pump.js';
import { ALGORITHMS, type ParsedDigest } from '../oci/digest.js';
import { NotFoundError, UnreadableDataError, type StorageDriver } from '../storage/driver.js';
import type { BlobService } from './blob-service.js';
import { blobPath, uploadPath } from './paths.js';
import { ensureRepository } from '../db/repositories.js';
import { advanceUpload, deleteUpload, findUpload, insertUpload, markPublishing, markShortChunk } from '../db/uploads.js';
import { deleteExpiredUploads, expiredUploadsPage } from '../db/gc.js';
import { isDiskFull } from '../errors/infrastructure.js';

export interface UploadSession {
  id: string;
  name: string;
  size: number;
  shortChunk: boolean;
  /** digest whose publication began (verified) but may not have committed */
  publishing?: string;
}

export interface ChunkInput {
  body: Readable;
  /** inclusive byte range from Content-Range, when sent */
  range?: { start: number; end: number };
  /** Content-Length, when sent */
  length?: number;
  signal?: AbortSignal;
}

interface HashState { hash: IncrementalHash; offset: number }

const RUNNING_ALGORITHM = 'sha256';

export interface UploadServiceOptions {
  /** under storage pressure (a write found the disk full), sessions idle this long are removed; default 10 minutes */
  idleExpiryWhenFullMs?: number;
  /** told what a pressure sweep removed */
  onRelieved?: (removed: { uploads: number; bytes: number }) => void;
}

export class UploadService {
  private readonly hashes = new Map<string, HashState>();
  private readonly locks = new KeyedMutex();
  private readonly opts: UploadServiceOptions & { idleExpiryWhenFullMs: number };
  private relieving = false;
  private relievedAt = 0;

  constructor(
    private readonly meta: MetadataStore,
    private readonly store: StorageDriver,
    private readonly blobs: BlobService,
    private readonly hashing = new HashPool(),
    opts: UploadServiceOptions = {},
  ) {
    this.opts = { ...opts, idleExpiryWhenFullMs: opts.idleExpiryWhenFullMs ?? 600_000 };
  }

  async start(name: string): Promise<UploadSession> {
    const id = randomUUID();
    const now = Date.now();
    // Relaxed: a session lost to a power failure is simply unknown afterwards, and the client starts over.
    await this.meta.relaxed(async (db) => {
      const repositoryId = await ensureRepository(db, name, now);
      await insertUpload(db, id, repositoryId, now);
    });
    return { id, name, size: 0, shortChunk: false };
  }

  /** The session, only under the repository it was started for. */
  async get(name: string, id: string): Promise<UploadSession> {
    const row = await findUpload(this.meta.db, name, id);
    if (!row) throw new BerthError('BLOB_UPLOAD_UNKNOWN', { detail: { session: id } });
    return { id: row.id, name, size: row.size, shortChunk: row.shortChunkEnd !== null, publishing: row.publishingDigest ?? undefined };
  }

  /**
   * PATCH: appends one chunk (or a whole stream) at the current offset. A chunk shorter than
   * minChunk is accepted only as the last one: after it, only the closing PUT may come.
   */
  async append(name: string, id: string, input: ChunkInput, minChunk = 0): Promise<UploadSession> {
    return this.locks.run(id, async () => {
      const session = await this.get(name, id);
      if (session.shortChunk) {
        input.body.resume();
        throw new BerthError('RANGE_INVALID', {
          message: `the previous chunk was shorter than the minimum chunk length (${minChunk} bytes), so it had to be the last; close the upload with PUT`,
          upload: { name: session.name, id: session.id, size: session.size },
        });
      }
      const before = session.size;
      await this.write(session, input);
      if (minChunk > 0 && session.size - before < minChunk) {
        await this.meta.relaxed((db) => markShortChunk(db, id, session.size));
      }
      return session;
    });
  }

  /** PUT: optional last chunk, then verify the digest and publish the blob. */
  async complete(name: string, id: string, digest: ParsedDigest, input: ChunkInput | undefined): Promise<{ digest: string; size: number }> {
    return this.locks.run(id, async () => {
      const session = await this.get(name, id);
      if (input) await this.write(session, input);
      return this.finish(session, digest);
    });
  }

  /** POST ?digest= or a PUT-only upload: the whole blob in one request, no session row needed. */
  async monolithic(name: string, digest: ParsedDigest, input: ChunkInput): Promise<{ digest: string; size: number }> {
    const id = randomUUID();
    const path = uploadPath(id);
    const hash = this.hashing.create(ALGORITHMS[digest.algorithm].node, input.length);
    let size = 0;
    try {
      size = await this.stream(path, 0, hash, input, true);
      await this.verify(digest, hash, size);
      await this.blobs.publish(name, digest, size, path);
      return { digest: digest.digest, size };
    } catch (e) {
      hash.dispose();
      await this.store.delete(path).catch(() => undefined);
      if (isDiskFull(e)) this.storageFull();
      throw e;
    }
  }

  async cancel(name: string, id: string): Promise<void> {
    await this.locks.run(id, async () => {
      await this.get(name, id);
      await this.discard(id);
    });
  }

  private forget(id: string): void {
    this.hashes.get(id)?.hash.dispose();
    this.hashes.delete(id);
  }

  private async discard(id: string): Promise<void> {
    this.forget(id);
    await deleteUpload(this.meta.db, id);
    await this.store.delete(uploadPath(id));
  }

  private async write(session: UploadSession, input: ChunkInput): Promise<void> {
    const offset = session.size;
    if (input.range) {
      const { start, end } = input.range;
      if (start !== offset || end < start) {
        input.body.resume();
        throw new BerthError('RANGE_INVALID', {
          message: `chunk must start at offset ${offset}`,
          detail: { expected: offset, got: `${start}-${end}` },
          upload: { name: session.name, id: session.id, size: session.size },
        });
      }
      if (input.length !== undefined && input.length !== end - start + 1) {
        input.body.resume();
        throw new BerthError('SIZE_INVALID', { message: 'Content-Length does not match Content-Range', detail: { range: `${start}-${end}`, length: input.length } });
      }
    }
    const state = await this.runningHash(session, input.length);
    const progress = { stored: 0 };
    let written: number;
    try {
      written = await this.stream(uploadPath(session.id), offset, state.hash, input, false, progress);
      if (input.range && written !== input.range.end - input.range.start + 1) {
        throw new BerthError('SIZE_INVALID', { message: 'body length does not match Content-Range', detail: { range: `${input.range.start}-${input.range.end}`, received: written } });
      }
    } catch (e) {
      if (isDiskFull(e)) {
        // Keeping what this request stored would keep the disk full: it is given back at once.
        this.forget(session.id);
        await this.giveBack(session, offset);
        throw e;
      }
      // A stream cut off (the client went away, the server is stopping) keeps what reached storage: the
      // session moves to it and the client resumes from there (GET tells it where). The running hash has
      // seen exactly those bytes, so it stays.
      if (progress.stored > 0 && !(e instanceof BerthError)) {
        await this.advance(session, state, offset, progress.stored).catch(() => this.forget(session.id));
      } else {
        // The running hash saw bytes that are not acknowledged: rebuild it on the next request.
        this.forget(session.id);
      }
      throw e;
    }
    try {
      await this.advance(session, state, offset, written);
    } catch (e) {
      // Not acknowledged (the database is full, locked or read-only): the running hash saw bytes the session
      // does not count, and on a full disk the bytes themselves are given back.
      this.forget(session.id);
      if (isDiskFull(e)) await this.giveBack(session, offset);
      throw e;
    }
  }

  /**
   * After a write failed for want of space: cuts the session's file back to what earlier requests
   * acknowledged, or, when that is nothing, removes the session (its file first: the database may be on
   * the same full disk and fail to delete the row, which is then harmless). Best effort: the caller
   * answers the original failure. Idle sessions of other clients go too (relievePressure).
   */
  private async giveBack(session: UploadSession, acknowledged: number): Promise<void> {
    const path = uploadPath(session.id);
    try {
      if (acknowledged === 0) {
        await this.store.delete(path);
        await deleteUpload(this.meta.db, session.id);
      } else {
        await this.truncate(path, acknowledged, false);
      }
    } catch {
      // A cut that failed (an encrypted upload must re-seal the segment it cuts into) leaves the session
      // unusable: its file goes rather than keep the space.
      await this.store.delete(path).catch(() => undefined);
    }
    this.storageFull();
  }

  /** Cuts the file at path back to size (and with durable, makes that survive power loss). */
  private async truncate(path: string, size: number, durable: boolean): Promise<void> {
    const w = await this.store.write(path, { offset: size });
    w.end();
    await new Promise<void>((resolve, reject) => { w.once('finish', resolve); w.once('error', reject); });
    await w.commit({ durable });
  }

  /**
   * Told that the storage is full (a write here found it so, or the readiness probe did): idle sessions
   * are removed in the background, one sweep at a time and at most one a second.
   */
  storageFull(): void {
    if (this.relieving || Date.now() - this.relievedAt < 1000) return;
    this.relieving = true;
    void this.relievePressure().catch(() => undefined).finally(() => { this.relieving = false; this.relievedAt = Date.now(); });
  }

  /**
   * Under storage pressure: removes the upload sessions idle for longer than `idleExpiryMs` (created and
   * never written, or left by a client that went away), except those this process is writing now, and
   * returns how many went with how many bytes. Their rows go first, re-checked in the delete; when the
   * database itself cannot take the delete (its disk is full too), their files go anyway, since they are
   * what holds the space: a client that comes back then learns that its data is lost and starts again.
   */
  async relievePressure(idleExpiryMs = this.opts.idleExpiryWhenFullMs): Promise<{ uploads: number; bytes: number }> {
    const expiry = Date.now() - idleExpiryMs;
    const done = { uploads: 0, bytes: 0 };
    let after: string | undefined;
    for (;;) {
      const page = await expiredUploadsPage(this.meta.db, expiry, after, 200);
      if (page.length === 0) break;
      after = page[page.length - 1].id;
      const idle = page.filter((u) => !this.locks.held(u.id));
      let gone: { id: string; size: number }[];
      try {
        gone = idle.length === 0 ? [] : await this.meta.relaxed((db) => deleteExpiredUploads(db, idle.map((u) => u.id), expiry));
      } catch (e) {
        if (!isDiskFull(e)) throw e;
        gone = idle;
      }
      for (const u of gone) {
        this.forget(u.id);
        await this.store.delete(uploadPath(u.id));
        done.uploads++;
        done.bytes += Number(u.size);
      }
      if (page.length < 200) break;
    }
    if (done.uploads > 0) this.opts.onRelieved?.(done);
    return done;
  }

  private async advance(session: UploadSession, state: HashState, offset: number, written: number): Promise<void> {
    const now = Date.now();
    // Relaxed: if a power failure loses it, the session is behind its file and the surplus is truncated.
    if (!(await this.meta.relaxed((db) => advanceUpload(db, session.id, offset, offset + written, now)))) {
      this.forget(session.id);
      throw new BerthError('RANGE_INVALID', { message: 'upload was changed concurrently', detail: { session: session.id } });
    }
    state.offset = offset + written;
    session.size = offset + written;
  }

  /**
   * Streams input into path at offset, hashing; returns bytes written. Checks Content-Length.
   * Chunks need not be durable: finishing fsyncs the whole file, and a file found shorter than
   * acknowledged after a power loss ends the session.
   */
  private async stream(path: string, offset: number, hash: IncrementalHash, input: ChunkInput, durable: boolean, progress?: { stored: number }): Promise<number> {
    const writer = await this.store.write(path, { offset, signal: input.signal });
    const handOff = writer.releasesChunks === true;
    let count = 0;
    try {
      // Hashed once written, so a chunk the writer is done with can move to the hashing thread uncopied.
      await pump(input.body, writer, (chunk) => { count += chunk.length; }, {
        signal: input.signal,
        written: (chunk) => {
          if (progress) progress.stored += chunk.length;
          hash.update(chunk, handOff);
        },
        hold: hash,
      });
    } catch (e) {
      await writer.abort();
      throw e;
    }
    await writer.commit({ durable });
    if (input.length !== undefined && count !== input.length) {
      throw new BerthError('SIZE_INVALID', { detail: { contentLength: input.length, received: count } });
    }
    return count;
  }

  private async verify(digest: ParsedDigest, hash: IncrementalHash, size: number): Promise<void> {
    const actual = `${digest.algorithm}:${await hash.digest()}`;
    if (actual !== digest.digest) {
      throw new BerthError('DIGEST_INVALID', { detail: { expected: digest.digest, actual, size } });
    }
  }

  private async finish(session: UploadSession, digest: ParsedDigest): Promise<{ digest: string; size: number }> {
    const path = uploadPath(session.id);
    const stored = session.size > 0 ? await this.store.stat(path).catch((e: unknown) => { if (e instanceof UnreadableDataError) return null; throw e; }) : { size: 0 };
    if (!stored || stored.size < session.size) {
      // The bytes are gone. If a crash cut off this very publication after the verified file was moved
      // into place, completing it is safe; otherwise the session cannot be finished.
      if (session.publishing === digest.digest && (await this.store.stat(blobPath(digest)))?.size === session.size) {
        return this.publish(session, digest, path);
      }
      await this.discard(session.id);
      throw new BerthError('BLOB_UPLOAD_UNKNOWN', { detail: { session: session.id, reason: 'upload data lost; start again' } });
    }
    try {
      // Truncate anything past the acknowledged size (a chunk cut short by a crash) and make it durable
      // (on an object store committed bytes are, and the rewrite would copy the whole object).
      if (stored.size > session.size || !this.store.durableWrites) await this.truncate(path, session.size, true);
      let hash: IncrementalHash;
      if (digest.algorithm === RUNNING_ALGORITHM) {
        hash = (await this.runningHash(session, 0)).hash;
        this.hashes.delete(session.id); // digest() finishes it
      } else {
        hash = this.hashing.create(ALGORITHMS[digest.algorithm].node, session.size);
        try {
          await this.rehash(path, session.size, hash);
        } catch (e) {
          hash.dispose();
          throw e;
        }
      }
      await this.verify(digest, hash, session.size);
    } catch (e) {
      // A failed verification ends the session: nothing half-made stays behind.
      if (e instanceof BerthError) await this.discard(session.id);
      else this.forget(session.id);
      throw e;
    }
    this.forget(session.id);
    // Remember what is being published, so a crash between the move and the commit can be completed.
    await this.meta.relaxed((db) => markPublishing(db, session.id, digest.digest));
    return this.publish(session, digest, path);
  }

  private async publish(session: UploadSession, digest: ParsedDigest, path: string): Promise<{ digest: string; size: number }> {
    await this.blobs.publish(session.name, digest, session.size, path, (tx) => deleteUpload(tx, session.id));
    return { digest: digest.digest, size: session.size };
  }



  /** The session's running hash; `expectedBytes` (what is about to be fed) picks inline or threaded. */
  private async runningHash(session: UploadSession, expectedBytes: number | undefined): Promise<HashState> {
    const known = this.hashes.get(session.id);
    if (known && known.offset === session.size) return known;
    this.forget(session.id);
    const hash = this.hashing.create(RUNNING_ALGORITHM, expectedBytes === undefined ? undefined : session.size + expectedBytes);
    try {
      await this.rehash(uploadPath(session.id), session.size, hash);
    } catch (e) {
      hash.dispose();
      // Unreadable: an encrypted upload torn by a power loss (chunks are not durable) is as good as lost.
      if (e instanceof NotFoundError || e instanceof BerthError || e instanceof UnreadableDataError) {
        await this.discard(session.id);
        throw new BerthError('BLOB_UPLOAD_UNKNOWN', { detail: { session: session.id, reason: 'upload data lost; start again' } });
      }
      throw e;
    }
    const state = { hash, offset: session.size };
    this.hashes.set(session.id, state);
    return state;
  }

  private async rehash(path: string, size: number, hash: IncrementalHash): Promise<void> {
    if (size === 0) return;
    const st = await this.store.stat(path);
    if (!st || st.size < size) throw new NotFoundError(path);
    const rs = await this.store.read(path, { start: 0, end: size - 1 });
    for await (const chunk of rs) {
      hash.update(chunk as Buffer); // copied: a driver's read chunks may share memory with what it stores
      if (hash.full()) await new Promise<void>((resolve) => hash.whenReady(resolve));
    }
  }
}

export function rangeHeaders(session: Pick<UploadSession, 'id' | 'name' | 'size'>): Record<string, string> {
  return {
    Location: `/v2/${session.name}/blobs/uploads/${session.id}`,
    Range: `0-${Math.max(session.size - 1, 0)}`,
    'Docker-Upload-UUID': session.id,
  };
}
