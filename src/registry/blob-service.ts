// Blobs: content-addressed bytes shared by all repositories; the repository_blobs link says which
// repository may see which blob. Publishing and collection serialize on the metadata transaction.
import type { Readable } from 'node:stream';
import type { MetadataStore, Tx } from '../db/database.js';
import { BerthError } from '../errors/berth-error.js';
import type { ParsedDigest } from '../oci/digest.js';
import { NotFoundError, UnreadableDataError, type RangeSource, type StorageDriver } from '../storage/driver.js';

/** A byte range of a blob that writes itself to a socket; http/ names storage types only through registry/. */
export type { RangeSource };
import { blobPath } from './paths.js';
import { GcQueue } from './gc-reviewer.js';
import { lockDigest } from '../db/gc-review.js';
import { ensureRepository, findRepositoryId } from './repositories.js';
import { BlobLookups, findLinkedBlob, linkBlob, touchBlob, touchBlobLink, unlinkBlob, upsertBlob } from '../db/blobs.js';
import { manifestUsingBlob } from '../db/manifests.js';
import { SYSTEM_CONTEXT, type Journal, type RequestContext } from '../audit/journal.js';
import { BlobDeleted, BlobMounted } from '../events/catalogue.js';
import type { Outbox } from '../events/outbox.js';

/** Blobs up to this size are read in one call rather than streamed. */
const SMALL_BLOB = 256 * 1024;

export interface BlobInfo { digest: string; size: number }

export interface BlobServiceOptions {
  /**
   * A blob checked (HEAD, GET) in a repository whose link was last touched longer ago than this has the
   * link touched again, so that garbage collection spares it for its grace period: a client that saw the
   * blob and skipped its upload can still reference it from a manifest. A fraction of gc.grace (at most
   * one write per link per that time, not durable: losing it to a power failure only shortens the protection).
   * Undefined: checks touch nothing.
   */
  touchAfterMs?: number;
  /** the online garbage collection queue a publication and an unlink feed */
  gcQueue?: GcQueue;
  /** blob GETs are redirected to presigned URLs of the store, good this many seconds (storage.s3.redirect) */
  redirectSeconds?: number;
}

export class BlobService {
  /** The stat lookup, compiled once. */
  private readonly lookups: BlobLookups;

  constructor(private readonly meta: MetadataStore, private readonly store: StorageDriver, private readonly journal: Journal, private readonly outbox: Outbox, private readonly opts: BlobServiceOptions = {}) {
    this.lookups = new BlobLookups(meta.db, meta.invalidations);
    this.gcQueue = opts.gcQueue ?? new GcQueue();
  }

  private readonly gcQueue: GcQueue;

  /** The blob as the repository sees it, or BLOB_UNKNOWN. Protects it from garbage collection for a while (see touchAfterMs). */
  async stat(name: string, digest: ParsedDigest): Promise<BlobInfo> {
    const row = await this.lookups.linkedBlob(name, digest.digest);
    if (!row) throw new BerthError('BLOB_UNKNOWN', { detail: { digest: digest.digest } });
    const touchAfter = this.opts.touchAfterMs;
    const now = Date.now();
    if (touchAfter !== undefined && now - Number(row.touched_at) > touchAfter) {
      // Answered only once the touch is in: a collection that removed the link first leaves nothing to
      // touch, and the client is told the blob is unknown (so it uploads it) instead of being told it is there.
      const touched = await this.meta.relaxed((db) => touchBlobLink(db, Number(row.repository_id), digest.digest, now));
      if (!touched) throw new BerthError('BLOB_UNKNOWN', { detail: { digest: digest.digest } });
      this.lookups.touched(name, digest.digest, now);
    }
    return { digest: row.digest, size: Number(row.size) };
  }

  /**
   * Opens a large blob's range for copying straight to a response, when the driver can; null means
   * use open(). Failing to open (content missing) happens here, before any byte is sent.
   */
  async openRange(digest: ParsedDigest, start: number, end: number, reader?: { ctx: RequestContext; name: string }): Promise<RangeSource | null> {
    if (!this.store.openRange || end - start + 1 <= SMALL_BLOB) return null;
    let source: RangeSource;
    try {
      source = await this.store.openRange(blobPath(digest), start, end);
    } catch (e) {
      if (e instanceof NotFoundError) throw new BerthError('BLOB_UNKNOWN', { detail: { digest: digest.digest, reason: 'content missing from storage' } });
      if (e instanceof UnreadableDataError) throw await this.unreadable(digest, e, reader);
      throw e;
    }
    return {
      pipeTo: (sink, signal) => source.pipeTo(sink, signal).catch(async (e: unknown) => {
        if (e instanceof UnreadableDataError) await this.unreadable(digest, e, reader);
        throw e;
      }),
      close: () => source.close(),
    };
  }

  /**
   * Small blobs last read, by digest (content-addressed, so never stale): configs and small layers are
   * fetched over and over, and four file operations per GET cost more than sending 4 KiB. Bounded in bytes.
   */
  private readonly recent = new Map<string, Buffer>();
  private recentBytes = 0;
  private static readonly CACHE_ITEM = 64 * 1024;
  private static readonly CACHE_TOTAL = 8 * 1024 * 1024;

  private async smallBlob(digest: ParsedDigest, size: number): Promise<Buffer> {
    const hit = this.recent.get(digest.digest);
    if (hit) {
      // Least recently used goes first: a Map keeps insertion order, so re-insert on use.
      this.recent.delete(digest.digest);
      this.recent.set(digest.digest, hit);
      return hit;
    }
    const data = await this.store.readBuffer(blobPath(digest), { start: 0, end: size - 1 });
    if (data.length !== size) return data;
    this.recent.set(digest.digest, data);
    this.recentBytes += data.length;
    for (const [k, v] of this.recent) {
      if (this.recentBytes <= BlobService.CACHE_TOTAL) break;
      this.recent.delete(k);
      this.recentBytes -= v.length;
    }
    return data;
  }

  /**
   * The blob's bytes (or a range): small ones as one buffer, larger ones streamed. `signal` is asked for
   * only when the content streams (a small blob is answered whole, at once). Content that fails its
   * integrity check is never served: BLOB_UNREADABLE before the first byte, or a stream that fails at
   * the first bad segment; either way with an audit record (`reader`'s, in repository `name`).
   */
  async open(digest: ParsedDigest, size: number, range: { start: number; end: number } | undefined, signal?: () => AbortSignal, reader?: { ctx: RequestContext; name: string }): Promise<Readable | Buffer> {
    const length = range ? range.end - range.start + 1 : size;
    try {
      if (size <= BlobService.CACHE_ITEM) {
        const all = await this.smallBlob(digest, size);
        return range ? all.subarray(range.start, range.end + 1) : all;
      }
      if (length <= SMALL_BLOB) return await this.store.readBuffer(blobPath(digest), range ?? { start: 0, end: size - 1 });
      const stream = await this.store.read(blobPath(digest), { ...range, signal: signal?.() });
      stream.once('error', (e) => { if (e instanceof UnreadableDataError) void this.unreadable(digest, e, reader); });
      return stream;
    } catch (e) {
      if (e instanceof NotFoundError) throw new BerthError('BLOB_UNKNOWN', { detail: { digest: digest.digest, reason: 'content missing from storage' } });
      if (e instanceof UnreadableDataError) throw await this.unreadable(digest, e, reader);
      throw e;
    }
  }

  private async unreadable(digest: ParsedDigest, e: UnreadableDataError, reader?: { ctx: RequestContext; name: string }): Promise<BerthError> {
    await this.journal.record(reader?.ctx ?? SYSTEM_CONTEXT, [{
      action: 'blob.read', resource: reader ? `repository:${reader.name}@${digest.digest}` : `blob:${digest.digest}`, outcome: 'failure',
      detail: { reason: e.reason, error: 'BLOB_UNREADABLE' },
    }]).catch(() => undefined);
    return new BerthError('BLOB_UNREADABLE', { detail: { digest: digest.digest } });
  }

  /**
   * Makes verified, durable bytes at `tempPath` the blob `digest` and links it to the repository, then
   * runs `also` in the same transaction. The file is moved into place (rename + folder fsync) before the
   * transaction, so concurrent publications do not queue behind each other's fsyncs; inside it, the file
   * is checked again, since a collection may have moved an old copy aside meanwhile.
   */
  async publish(name: string, digest: ParsedDigest, size: number, tempPath: string, also?: (tx: Tx) => Promise<void>): Promise<void> {
    const target = blobPath(digest);
    let consumed = false;
    const existing = await this.store.stat(target);
    if (!existing || existing.size !== size) {
      await this.store.move(tempPath, target);
      consumed = true;
    }
    const now = Date.now();
    await this.meta.transaction(async (tx) => {
      // The row first: on PostgreSQL that waits for a collection reviewing the blob, and the file is
      // looked at only after it, so a copy it moved aside is seen gone.
      await upsertBlob(tx, digest.digest, size, now);
      await lockDigest(tx, this.meta.dialect, digest.digest);
      const st = await this.store.stat(target);
      if (!st || st.size !== size) {
        if (consumed) throw new BerthError('BLOB_COLLECTED');
        await this.store.move(tempPath, target);
        consumed = true;
      }
      const repositoryId = await ensureRepository(tx, name, now);
      await linkBlob(tx, repositoryId, digest.digest, now);
      await this.gcQueue.uploaded(tx, repositoryId, digest.digest, now);
      await also?.(tx);
    });
    if (!consumed) await this.store.delete(tempPath);
  }

  /** Where a GET of the blob may be sent instead of being served here (a presigned URL), or null. */
  async redirect(digest: ParsedDigest): Promise<string | null> {
    if (this.opts.redirectSeconds === undefined || !this.store.presign) return null;
    return this.store.presign(blobPath(digest), this.opts.redirectSeconds);
  }

  /** Links a blob the source repository holds into the target. False when the source lacks it. */
  async mount(target: string, digest: ParsedDigest, from: string, ctx: RequestContext = SYSTEM_CONTEXT): Promise<BlobInfo | null> {
    const now = Date.now();
    return this.meta.transaction(async (tx) => {
      const src = await findLinkedBlob(tx, from, digest.digest, this.meta.dialect);
      if (!src) return null;
      // Bytes must really be there: never link a blob whose content is gone.
      const st = await this.store.stat(blobPath(digest));
      if (!st || st.size !== src.size) return null;
      await touchBlob(tx, digest.digest, now);
      const repositoryId = await ensureRepository(tx, target, now);
      await linkBlob(tx, repositoryId, digest.digest, now);
      await this.journal.write(tx, ctx, [{ action: 'blob.mount', resource: `repository:${target}@${digest.digest}`, detail: { from, size: src.size } }]);
      await this.outbox.append(tx, ctx, BlobMounted({ repository: target, digest: digest.digest, size: src.size, mediaType: 'application/octet-stream', from }));
      return { digest: src.digest, size: src.size };
    });
  }

  /** Unlinks the blob from the repository; refuses while a manifest there still references it. */
  async delete(name: string, digest: ParsedDigest, ctx: RequestContext = SYSTEM_CONTEXT): Promise<void> {
    await this.meta.transaction(async (tx) => {
      const repositoryId = await findRepositoryId(tx, name);
      if (repositoryId === undefined) throw new BerthError('BLOB_UNKNOWN', { detail: { digest: digest.digest } });
      const used = await manifestUsingBlob(tx, repositoryId, digest.digest);
      if (used !== undefined) {
        throw new BerthError('BLOB_IN_USE', {
          message: 'blob is referenced by a manifest in this repository; delete the manifest first',
          detail: { digest: digest.digest, manifest: used },
        });
      }
      if (!(await unlinkBlob(tx, repositoryId, digest.digest))) throw new BerthError('BLOB_UNKNOWN', { detail: { digest: digest.digest } });
      await this.gcQueue.unlinked(tx, [digest.digest], 'blob.delete');
      await this.journal.write(tx, ctx, [{ action: 'blob.delete', resource: `repository:${name}@${digest.digest}` }]);
      await this.outbox.append(tx, ctx, BlobDeleted({ repository: name, digest: digest.digest }));
    });
  }
}
