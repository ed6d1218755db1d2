// S3-compatible object storage driver (AWS S3, Ceph RADOS Gateway, MinIO, …) through @aws-sdk/client-s3.
// Driver paths become object keys below an optional prefix; nothing is written outside it. Objects appear
// whole or not at all (PutObject, CompleteMultipartUpload, CopyObject), so readers never see a partial file.
// Bytes stream in both directions: a writer holds at most about two parts in memory, whatever the size.
import { Readable, Writable } from 'node:stream';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand,
  DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command,
  PutObjectCommand, S3Client, UploadPartCommand, UploadPartCopyCommand, type CompletedPart,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { assertSafePath, NotFoundError, type StorageDriver, type StorageEntry, type StorageStat, type StorageWriter } from '../../driver.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** S3's smallest part (every part but the last), and its largest part and single copy. */
const MIN_PART = 5 * MiB;
const MAX_PART = 5 * GiB;
const MAX_PARTS = 10_000;
/** Parts grow every this many, so an upload fits S3's 10,000 parts (8 MiB parts: 7.8 GiB, then 16 MiB…). */
const PARTS_PER_SIZE = 1_000;
const DELETE_BATCH = 1_000;
const COPY_CONCURRENCY = 4;
const FIRST_BUFFER = 64 * 1024;

export interface S3DriverOptions {
  /** Full URL of the S3 endpoint (http allowed); omitted: AWS's endpoint for the region. */
  endpoint?: string;
  bucket: string;
  region: string;
  /** Key prefix Berth writes under ("" or omitted: the bucket's root). */
  prefix?: string;
  /** Bucket in the path (http://host/bucket/key) instead of the host name; most non-AWS servers want it. */
  forcePathStyle?: boolean;
  /** Omitted: the SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws, instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Bytes per uploaded part (default 8 MiB, at least 5 MiB); a writer buffers about two. */
  partSize?: number;
  /**
   * Keep the bytes before a write's offset with UploadPartCopy (server side) when there are at least 5 MiB of
   * them (default true); false re-uploads them by streaming, for servers without UploadPartCopy.
   */
  uploadPartCopy?: boolean;
  /** Objects larger than this move with a multipart copy (default and S3's limit for CopyObject: 5 GiB). */
  multipartCopyThreshold?: number;
  /** Part size of multipart copies (default 1 GiB; 5 MiB to 5 GiB). */
  copyPartSize?: number;
}

/** A failed S3 request, said plainly; carries no request, header or credential. */
export class S3StorageError extends Error {
  override readonly name = 'S3StorageError';
  constructor(message: string, readonly code: string | undefined, readonly status: number | undefined) {
    super(message);
  }
}

interface SdkError { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; $fault?: string }

const statusOf = (e: unknown) => (e as SdkError)?.$metadata?.httpStatusCode;
const isAbort = (e: unknown) => (e as SdkError)?.name === 'AbortError';
/** Nothing at the key (a missing bucket is no missing object; HEAD answers can't tell them apart, see check()). */
const isMissing = (e: unknown) => (statusOf(e) === 404 || ['NotFound', 'NoSuchKey'].includes((e as SdkError)?.name ?? '')) && (e as SdkError)?.name !== 'NoSuchBucket';

/** The x-amz-copy-source of a key. */
const copySource = (bucket: string, key: string) => `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;

/** UploadPartCopy of byte ranges of src as parts first, first + 1, … of an upload to dst; a few at a time. */
async function copyParts(client: S3Client, bucket: string, src: string, dst: string, uploadId: string, ranges: [number, number][], first: number, signal?: AbortSignal): Promise<CompletedPart[]> {
  const parts: CompletedPart[] = new Array(ranges.length);
  let next = 0;
  const worker = async () => {
    while (next < ranges.length) {
      const i = next++;
      const [a, b] = ranges[i];
      const r = await client.send(new UploadPartCopyCommand({
        Bucket: bucket, Key: dst, UploadId: uploadId, PartNumber: first + i, CopySource: copySource(bucket, src), CopySourceRange: `bytes=${a}-${b}`,
      }), { abortSignal: signal });
      parts[i] = { PartNumber: first + i, ETag: r.CopyPartResult?.ETag };
    }
  };
  await Promise.all(Array.from({ length: Math.min(COPY_CONCURRENCY, ranges.length) }, worker));
  return parts;
}

/** [0, size) in parts of partSize bytes, the last one shorter: a whole upload (only its last part may be small). */
function fixedRanges(size: number, partSize: number): [number, number][] {
  const ranges: [number, number][] = [];
  for (let a = 0; a < size; a += partSize) ranges.push([a, Math.min(a + partSize, size) - 1]);
  return ranges;
}

/**
 * [0, size) in as few parts of at most 5 GiB as can be, of about equal size: the start of an upload, where
 * every part must have 5 MiB (size has at least that; two or more parts have more than 2.5 GiB each).
 */
function evenRanges(size: number): [number, number][] {
  const n = Math.max(1, Math.ceil(size / MAX_PART));
  const ranges: [number, number][] = [];
  for (let i = 0; i < n; i++) ranges.push([Math.floor((size * i) / n), Math.floor((size * (i + 1)) / n) - 1]);
  return ranges;
}

export class S3Driver implements StorageDriver {
  readonly name = 's3';
  readonly durableWrites = true;
  private readonly client: S3Client;
  private readonly bucket: string;
  /** "" or "prefix/" */
  private readonly base: string;
  private readonly where: string;
  readonly partSize: number;
  private readonly partCopy: boolean;
  private readonly copyThreshold: number;
  private readonly copyPartSize: number;

  constructor(opts: S3DriverOptions) {
    if (!opts.bucket) throw new Error('s3: bucket is required');
    if (!opts.region) throw new Error('s3: region is required');
    let origin = `s3.${opts.region}.amazonaws.com`;
    if (opts.endpoint !== undefined) {
      let url: URL;
      try { url = new URL(opts.endpoint); } catch { throw new Error(`s3: endpoint is not a URL: ${JSON.stringify(opts.endpoint)}`); }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`s3: endpoint must be http:// or https://, not ${url.protocol}`);
      // so that no error message can carry a secret
      if (url.username || url.password) throw new Error('s3: endpoint must not carry credentials; give them as credentials');
      origin = url.origin;
    }
    const prefix = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (prefix) {
      try { assertSafePath(prefix); } catch { throw new Error(`s3: prefix must be slash-separated names of A-Z a-z 0-9 . _ - (got ${JSON.stringify(opts.prefix)})`); }
    }
    const partSize = opts.partSize ?? 8 * MiB;
    if (!Number.isInteger(partSize) || partSize < MIN_PART || partSize > MAX_PART) throw new Error(`s3: partSize must be between ${MIN_PART} and ${MAX_PART} bytes`);
    const copyPartSize = opts.copyPartSize ?? GiB;
    if (!Number.isInteger(copyPartSize) || copyPartSize < MIN_PART || copyPartSize > MAX_PART) throw new Error(`s3: copyPartSize must be between ${MIN_PART} and ${MAX_PART} bytes`);
    const copyThreshold = opts.multipartCopyThreshold ?? MAX_PART;
    if (!(copyThreshold >= 0 && copyThreshold <= MAX_PART)) throw new Error(`s3: multipartCopyThreshold must be at most ${MAX_PART} bytes`);

    this.bucket = opts.bucket;
    this.base = prefix ? `${prefix}/` : '';
    this.where = `${origin}/${opts.bucket}${prefix ? `/${prefix}` : ''}`;
    this.partSize = partSize;
    this.partCopy = opts.uploadPartCopy ?? true;
    this.copyThreshold = copyThreshold;
    this.copyPartSize = copyPartSize;
    this.client = new S3Client({
      region: opts.region,
      ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
      forcePathStyle: opts.forcePathStyle ?? false,
      ...(opts.credentials ? { credentials: { accessKeyId: opts.credentials.accessKeyId, secretAccessKey: opts.credentials.secretAccessKey } } : {}),
      // Checksums only where S3 requires them (DeleteObjects): the SDK's default CRC32 trailers use
      // aws-chunked uploads, which S3-compatible servers (Ceph before 18, older MinIO) refuse. Bodies are
      // buffers of known length, signed with their SHA-256.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: 10_000, httpAgent: { keepAlive: true, maxSockets: 64 }, httpsAgent: { keepAlive: true, maxSockets: 64 } },
    });
  }

  /** Driver path → object key. */
  private key(p: string): string {
    assertSafePath(p);
    return this.base + p;
  }

  /** A clear Error for a failed request; NotFoundError and aborts pass through. */
  private fail(op: string, p: string, e: unknown): Error {
    if (e instanceof NotFoundError || e instanceof S3StorageError || isAbort(e)) return e as Error;
    const err = (e ?? {}) as SdkError;
    const status = statusOf(e);
    const name = err.name && err.name !== 'Error' ? err.name : undefined;
    let what: string;
    if (status === undefined) {
      what = `cannot reach ${this.where} (${err.code ?? name ?? err.message ?? 'network error'})`;
    } else if (status >= 500) {
      what = `the server failed (HTTP ${status}${name ? ` ${name}` : ''}); retried and gave up`;
    } else if (status === 403 || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch') {
      what = `access denied (HTTP ${status}${name ? ` ${name}` : ''}): check the credentials and the bucket's policy`;
    } else if (name === 'NoSuchBucket') {
      what = `no bucket ${this.bucket} at ${this.where}`;
    } else {
      what = `HTTP ${status}${name ? ` ${name}` : ''}${err.message && err.message !== name && err.message !== 'UnknownError' ? `: ${err.message}` : ''}`;
    }
    return new S3StorageError(`s3 ${op} ${p}: ${what}`, err.code ?? name, status);
  }

  /**
   * Throws unless the bucket is there and these credentials may use it: a HEAD of a missing object and of a
   * missing bucket look the same (404, no body), so stat() alone would take a wrong bucket for an empty one.
   */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (e) {
      if (statusOf(e) === 404) throw new S3StorageError(`s3: no bucket ${this.bucket} at ${this.where}`, 'NoSuchBucket', 404);
      throw this.fail('check', this.bucket, e);
    }
  }

  /** Releases the client's connections. */
  close(): void {
    this.client.destroy();
  }

  private async head(p: string, key: string): Promise<StorageStat | null> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: r.ContentLength ?? 0, modifiedAt: r.LastModified ?? new Date() };
    } catch (e) {
      if (isMissing(e)) return null;
      throw this.fail('stat', p, e);
    }
  }

  async stat(p: string): Promise<StorageStat | null> {
    return this.head(p, this.key(p));
  }

  /** GetObject of [start, end]; a range that starts past the end reads empty. */
  private async get(p: string, opts: { start?: number; end?: number; signal?: AbortSignal }): Promise<Readable> {
    const key = this.key(p);
    const start = opts.start ?? 0;
    if (opts.end !== undefined && opts.end < start) {
      // S3 ignores such a range and sends everything
      if (!(await this.head(p, key))) throw new NotFoundError(p);
      return Readable.from([]);
    }
    const range = opts.end !== undefined ? `bytes=${start}-${opts.end}` : start > 0 ? `bytes=${start}-` : undefined;
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range }), { abortSignal: opts.signal });
      return r.Body as Readable;
    } catch (e) {
      if (isMissing(e)) throw new NotFoundError(p);
      if (statusOf(e) === 416) {
        // unsatisfiable: the object exists but is shorter than start (or empty)
        if (!(await this.head(p, key))) throw new NotFoundError(p);
        return Readable.from([]);
      }
      throw this.fail('read', p, e);
    }
  }

  async read(p: string, opts: { start?: number; end?: number; signal?: AbortSignal } = {}): Promise<Readable> {
    const body = await this.get(p, opts);
    const signal = opts.signal;
    if (signal) {
      // the SDK stops listening once the response is there; the body must still end with the signal
      const onAbort = () => body.destroy(signal.reason instanceof Error ? signal.reason : Object.assign(new Error('aborted'), { name: 'AbortError' }));
      signal.addEventListener('abort', onAbort, { once: true });
      body.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    return body;
  }

  async readBuffer(p: string, opts: { start?: number; end?: number } = {}): Promise<Buffer> {
    const body = await this.get(p, opts);
    const parts: Buffer[] = [];
    try {
      for await (const chunk of body) parts.push(chunk as Buffer);
    } catch (e) {
      throw this.fail('read', p, e);
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  // Upload sessions will get a dedicated part-list path later (each chunk its own part, no re-copy); until
  // then a write at an offset rebuilds the object: the kept bytes [0, offset) are copied server side as
  // parts of a multipart upload when there are at least 5 MiB of them, else read back and re-uploaded.
  async write(p: string, opts: { offset?: number; signal?: AbortSignal } = {}): Promise<StorageWriter> {
    const key = this.key(p);
    const offset = opts.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0) throw new Error(`s3 write ${p}: bad offset ${offset}`);
    const w = new S3Writer(this.client, this.bucket, key, p, this.partSize, (op, e) => this.fail(op, p, e), opts.signal);
    if (offset === 0) return w;
    try {
      const st = await this.head(p, key);
      if (!st) throw new NotFoundError(p);
      if (st.size < offset) throw new Error(`s3 write ${p}: cannot write at ${offset}, the object has ${st.size} bytes`);
      const copied = this.partCopy && offset >= MIN_PART && (await w.copyPrefix(evenRanges(offset)));
      if (!copied) await w.feed(await this.get(p, { start: 0, end: offset - 1, signal: opts.signal }));
    } catch (e) {
      await w.abort();
      throw e;
    }
    return w;
  }

  async move(from: string, to: string): Promise<void> {
    const src = this.key(from);
    const dst = this.key(to);
    const st = await this.head(from, src);
    if (!st) throw new NotFoundError(from);
    // The target is replaced in one step; the source goes after, so a crash between leaves both.
    if (st.size <= this.copyThreshold) {
      try {
        await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: dst, CopySource: copySource(this.bucket, src) }));
      } catch (e) {
        if (isMissing(e)) throw new NotFoundError(from);
        throw this.fail('move', `${from} to ${to}`, e);
      }
    } else {
      const parts = Math.max(this.copyPartSize, Math.ceil(st.size / MAX_PARTS));
      await this.multipartCopy(from, to, src, dst, fixedRanges(st.size, parts));
    }
    await this.deleteKeys(from, [src]);
  }

  private async multipartCopy(from: string, to: string, src: string, dst: string, ranges: [number, number][]): Promise<void> {
    const fail = (e: unknown) => (isMissing(e) ? new NotFoundError(from) : this.fail('move', `${from} to ${to}`, e));
    let uploadId: string | undefined;
    try {
      uploadId = (await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: dst }))).UploadId;
      const parts = await copyParts(this.client, this.bucket, src, dst, uploadId!, ranges, 1);
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: dst, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    } catch (e) {
      if (uploadId) await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: dst, UploadId: uploadId })).catch(() => undefined);
      throw fail(e);
    }
  }

  async delete(p: string): Promise<void> {
    const key = this.key(p);
    let batch = [key];
    for await (const page of this.pages(p, `${key}/`)) {
      for (const o of page) {
        batch.push(o.Key);
        if (batch.length === DELETE_BATCH) {
          await this.deleteKeys(p, batch);
          batch = [];
        }
      }
    }
    if (batch.length) await this.deleteKeys(p, batch);
  }

  private async deleteKeys(p: string, keys: string[]): Promise<void> {
    try {
      if (keys.length === 1) {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: keys[0] }));
        return;
      }
      const r = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }));
      const errors = (r.Errors ?? []).filter((x) => x.Code !== 'NoSuchKey');
      if (errors.length) {
        const first = errors[0];
        throw new S3StorageError(`s3 delete ${p}: ${errors.length} of ${keys.length} objects not deleted (${first.Code}: ${first.Message ?? ''} for ${first.Key?.slice(this.base.length)})`, first.Code, undefined);
      }
    } catch (e) {
      throw this.fail('delete', p, e);
    }
  }

  /** ListObjectsV2 pages of the keys that start with keyPrefix. */
  private async *pages(p: string, keyPrefix: string): AsyncGenerator<{ Key: string; Size: number; LastModified: Date }[]> {
    let token: string | undefined;
    do {
      let r;
      try {
        r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: keyPrefix, ContinuationToken: token }));
      } catch (e) {
        throw this.fail('list', p, e);
      }
      yield (r.Contents ?? []).filter((o) => o.Key).map((o) => ({ Key: o.Key!, Size: o.Size ?? 0, LastModified: o.LastModified ?? new Date() }));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  }

  async presign(p: string, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.key(p) }), { expiresIn: expiresInSeconds });
  }

  async abandonWritesBefore(before: Date): Promise<number> {
    let n = 0;
    let keyMarker: string | undefined, uploadIdMarker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.base, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
      } catch (e) {
        throw this.fail('list multipart uploads', this.base || '/', e);
      }
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !u.Initiated || u.Initiated >= before) continue;
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId })).catch(() => undefined);
        n++;
      }
      if (!page.IsTruncated) return n;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  async *list(prefix: string): AsyncIterable<StorageEntry> {
    const keyPrefix = `${this.key(prefix)}/`;
    for await (const page of this.pages(prefix, keyPrefix)) {
      for (const o of page) {
        const path = o.Key.slice(this.base.length);
        // keys Berth did not write (folder markers "a/", odd names) are no driver paths
        try { assertSafePath(path); } catch { continue; }
        yield { path, size: o.Size, modifiedAt: o.LastModified };
      }
    }
  }
}

/**
 * Buffers writes into parts: below one part the object is a single PutObject at commit; past it, a multipart
 * upload whose parts go up as they fill, one at a time while the next fills (backpressure holds the
 * producer when both are full). Chunks are copied into the part buffer, so they are released on callback.
 */
class S3Writer extends Writable implements StorageWriter {
  readonly releasesChunks = true;
  private buf: Buffer | undefined;
  private len = 0;
  private uploadId: string | undefined;
  private readonly parts: CompletedPart[] = [];
  private nextPart = 1;
  private inflight: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private state: 'open' | 'committed' | 'aborted' = 'open';
  private starting: Promise<void> | undefined;
  private aborting: Promise<void> | undefined;
  /** Cancels requests in flight once the writer is given up. */
  private readonly ac = new AbortController();

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly key: string,
    private readonly path: string,
    private readonly partSize: number,
    private readonly fail: (op: string, e: unknown) => Error,
    signal?: AbortSignal,
  ) {
    super({ signal, highWaterMark: 256 * 1024 });
  }

  /** The size of part nextPart: partSize, doubled every PARTS_PER_SIZE parts. */
  private currentPartSize(): number {
    return Math.min(MAX_PART, this.partSize * 2 ** Math.floor((this.nextPart - 1) / PARTS_PER_SIZE));
  }

  private async accept(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      if (this.state !== 'open') throw new Error(`s3 write ${this.path}: the writer was aborted`);
      const size = this.currentPartSize();
      const need = Math.min(size, this.len + chunk.length - off);
      if (!this.buf || this.buf.length < need) {
        // the first part grows (most objects are small); later ones are allocated whole
        const cap = this.uploadId ? size : Math.min(size, Math.max(need, FIRST_BUFFER, (this.buf?.length ?? 0) * 2));
        const grown = Buffer.allocUnsafe(cap);
        this.buf?.copy(grown, 0, 0, this.len);
        this.buf = grown;
      }
      const n = chunk.copy(this.buf, this.len, off, off + Math.min(chunk.length - off, size - this.len));
      this.len += n;
      off += n;
      if (this.len === size) await this.flushPart();
    }
  }

  /** Hands the full buffer to the part upload once the previous part is up. */
  private async flushPart(): Promise<void> {
    const body = this.buf!.subarray(0, this.len);
    this.buf = undefined;
    this.len = 0;
    await this.start();
    await this.inflight;
    if (this.failure) throw this.failure;
    if (this.state !== 'open') throw new Error(`s3 write ${this.path}: the writer was aborted`);
    if (this.nextPart > MAX_PARTS) throw new Error(`s3 write ${this.path}: more than ${MAX_PARTS} parts`);
    const partNumber = this.nextPart++;
    this.inflight = this.client.send(new UploadPartCommand({
      Bucket: this.bucket, Key: this.key, UploadId: this.uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length,
    }), { abortSignal: this.ac.signal }).then(
      (r) => { this.parts.push({ PartNumber: partNumber, ETag: r.ETag }); },
      (e) => { this.failure ??= this.fail('write', e); },
    );
  }

  /** CreateMultipartUpload, once. Not cancelled by the abort controller: an upload made must be known to be aborted. */
  private start(): Promise<void> {
    this.starting ??= (async () => {
      try {
        this.uploadId = (await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.key }))).UploadId;
      } catch (e) {
        throw this.fail('write', e);
      }
    })();
    return this.starting;
  }

  /**
   * Starts the upload with the ranges (from 0 on) of the object copied server side; false (and nothing started) when the
   * server has no UploadPartCopy.
   */
  async copyPrefix(ranges: [number, number][]): Promise<boolean> {
    await this.start();
    try {
      const parts = await copyParts(this.client, this.bucket, this.key, this.key, this.uploadId!, ranges, this.nextPart, this.ac.signal);
      this.parts.push(...parts);
      this.nextPart += parts.length;
      return true;
    } catch (e) {
      const err = e as SdkError;
      if (statusOf(e) === 501 || err.name === 'NotImplemented') {
        const id = this.uploadId;
        this.uploadId = undefined;
        this.starting = undefined;
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: id })).catch(() => undefined);
        return false;
      }
      throw this.fail('write', e);
    }
  }

  /** Writes a stream's bytes as if they had been written to this writer (the kept prefix). */
  async feed(source: Readable): Promise<void> {
    try {
      for await (const chunk of source) await this.accept(chunk as Buffer);
    } catch (e) {
      source.destroy();
      throw e instanceof NotFoundError ? e : this.fail('write', e);
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.accept(chunk).then(() => cb(), cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    (async () => {
      if (this.uploadId && this.len > 0) await this.flushPart();
      await this.inflight;
      if (this.failure) throw this.failure;
    })().then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    // destroyed before it finished (an error, the signal): nothing may be left behind
    if (err || !this.writableFinished) this.giveUp().then(() => cb(err), () => cb(err));
    else cb(err);
  }

  async commit(): Promise<void> {
    if (this.state === 'committed') return;
    if (this.state === 'aborted') throw new Error(`s3 write ${this.path}: the writer was aborted`);
    if (!this.writableFinished) {
      if (this.errored) throw this.errored;
      await new Promise<void>((resolve, reject) => {
        const done = () => { cleanup(); resolve(); };
        const failed = (e: Error) => { cleanup(); reject(e); };
        const closed = () => { cleanup(); if (this.writableFinished) resolve(); else reject(this.errored ?? new Error(`s3 write ${this.path}: the writer closed before it finished`)); };
        const cleanup = () => { this.off('finish', done); this.off('error', failed); this.off('close', closed); };
        this.once('finish', done);
        this.once('error', failed);
        this.once('close', closed);
      });
    }
    if (this.failure) throw this.failure;
    try {
      if (this.uploadId) {
        const parts = [...this.parts].sort((a, b) => a.PartNumber! - b.PartNumber!);
        await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: this.uploadId, MultipartUpload: { Parts: parts } }));
      } else {
        const body = this.buf ? this.buf.subarray(0, this.len) : Buffer.alloc(0);
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key, Body: body, ContentLength: body.length }));
      }
    } catch (e) {
      throw this.fail('write', e);
    }
    this.state = 'committed';
    this.buf = undefined;
  }

  async abort(): Promise<void> {
    if (this.state === 'committed') return;
    if (!this.destroyed) this.destroy();
    await this.giveUp();
  }

  /** Stops requests in flight and aborts the multipart upload, once. */
  private giveUp(): Promise<void> {
    this.aborting ??= (async () => {
      if (this.state === 'committed') return;
      this.state = 'aborted';
      this.buf = undefined;
      this.ac.abort();
      await this.starting?.catch(() => undefined);
      await this.inflight;
      if (!this.uploadId) return;
      try {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: this.uploadId }));
      } catch (e) {
        if (!isMissing(e)) throw this.fail('abort', e);
      }
    })();
    return this.aborting;
  }
}
