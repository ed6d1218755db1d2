// Encryption at rest as a driver that sits over any other: callers see plaintext paths and bytes; the
// driver below holds each file as `<path>.enc` in the format of format.ts. Plain files (written before
// encryption was turned on, or after it was turned off) stay readable beside encrypted ones, which lets
// a background job convert a store either way while it serves. Where both forms of a path exist (a
// conversion cut off between its two steps), the encrypted one is the file.
import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { assertSafePath, NotFoundError, UnreadableDataError, type RangeSource, type StorageDriver, type StorageEntry, type StorageStat, type StorageWriter } from '../driver.js';
import {
  encodeHeader, encodeSlot, HEADER_SIZE, newFileId, openSegment, parseHeader, plainSize, RECORD_SIZE, recordOffset, sealSegment, sealSegmentParts,
  SEGMENT_SIZE, segmentCount, slotOffset, wrapAad, type Slot,
} from './format.js';
import { KeyMismatchError, KeyUnavailableError } from './key-provider.js';
import type { Keyring } from './keyring.js';
import { CipherPool } from './cipher-pool.js';

export const ENCRYPTED_SUFFIX = '.enc';
/**
 * Beside `<path>.enc` while an append re-seals its last segment in place: that segment as it was, so a
 * crash in the middle cannot take bytes already acknowledged (see append and settle).
 */
const CARRY_SUFFIX = '.carry';
/** Where conversions build the new form of a file before it is moved into place. */
export const CONVERT_PREFIX = 'encryption-tmp';

interface OpenFile { fileId: Buffer; dataKey: Buffer; stored: number; plain: number; slot: Slot; slots: Slot[] }

export interface EncryptingDriverOptions {
  /** true: new files are written encrypted. false (encryption being turned off): written plain; encrypted ones stay readable. */
  encryptWrites: boolean;
}

/** What is stored under a path, as conversion and rotation see it. */
export type StoredForm = { encrypted: false } | { encrypted: true; keyId: string };

export class EncryptingDriver implements StorageDriver {
  readonly name: string;

  get durableWrites(): boolean | undefined {
    return this.inner.durableWrites;
  }

  private readonly ciphers = new CipherPool();

  constructor(private readonly inner: StorageDriver, readonly keys: Keyring, readonly opts: EncryptingDriverOptions) {
    this.name = `${inner.name}+encryption`;
  }

  private cipherPath(p: string): string {
    assertSafePath(p);
    if (p.endsWith(ENCRYPTED_SUFFIX)) throw new Error(`unsafe storage path: ${JSON.stringify(p)} (reserved suffix)`);
    return p + ENCRYPTED_SUFFIX;
  }

  /**
   * Settles what a crash left (see settle) first: stat is how a writer learns how much of a file it may
   * continue, so it must see the file as it was last whole.
   */
  async stat(p: string): Promise<StorageStat | null> {
    const st = await this.settle(p, this.cipherPath(p));
    if (!st) return this.inner.stat(p);
    const plain = plainSize(st.size);
    if (plain < 0) throw new UnreadableDataError(p, `stored size ${st.size} is no encrypted file's`);
    return { size: plain, modifiedAt: st.modifiedAt };
  }

  /** When p was last written (either form), without settling anything: for a look that must not disturb a writer. */
  async modifiedAt(p: string): Promise<Date | null> {
    const st = (await this.inner.stat(this.cipherPath(p))) ?? (await this.inner.stat(p));
    return st?.modifiedAt ?? null;
  }

  /**
   * Brings an encrypted file a crash cut off mid-write back to its last whole state, and returns its
   * stored stat. An append killed while re-sealing its last segment is undone from the carry file
   * beside it; where a plain form is beside an encrypted one, the encrypted one wins if it is whole
   * (a conversion that finished but for removing the plain form) and is removed if not (one that did
   * not). Runs where a writer takes over a file, never beside a writer that is busy with it.
   */
  private async settle(p: string, c: string): Promise<StorageStat | null> {
    const st = await this.inner.stat(c);
    if (!st) return null;
    const carryPath = c + CARRY_SUFFIX;
    const [carry, plain] = await Promise.all([this.inner.stat(carryPath), this.inner.stat(p)]);
    if (!carry && !plain) return st;
    if (carry) {
      if (!(await this.whole(p, c, st.size))) await this.restoreCarry(p, c, carryPath);
      await this.inner.delete(carryPath);
      return this.inner.stat(c);
    }
    if (await this.whole(p, c, st.size)) {
      await this.inner.delete(p);
      return st;
    }
    await this.inner.delete(c);
    return null;
  }

  /**
   * Settles p (see settle): a plain twin an interrupted conversion left beside a whole encrypted file is
   * removed. For the walk; not beside a writer busy with p.
   */
  async tidy(p: string): Promise<void> {
    await this.settle(p, this.cipherPath(p));
  }

  /** True when the file ends with its authentic last segment; a header that does not open throws. */
  private async whole(p: string, c: string, stored: number): Promise<boolean> {
    const plain = plainSize(stored);
    if (plain < 0) return false;
    const f = await this.openPath(p, c, stored);
    const last = segmentCount(plain) - 1;
    try {
      openSegment(p, f.dataKey, f.fileId, last, true, await this.inner.readBuffer(c, { start: recordOffset(last), end: stored - 1 }));
      return true;
    } catch (e) {
      if (e instanceof UnreadableDataError) return false;
      throw e;
    }
  }

  private async restoreCarry(p: string, c: string, carryPath: string): Promise<void> {
    const body = await this.inner.readBuffer(carryPath);
    if (body.length < 8 + 28) return; // cut off while it was written: the file was not touched yet
    const index = Number(body.readBigUInt64BE(0));
    const rec = body.subarray(8);
    const header = await this.inner.readBuffer(c, { start: 0, end: HEADER_SIZE - 1 });
    const f = await this.open(p, header, recordOffset(index) + rec.length);
    // Only a record that opens (as the last segment, or a full one) is put back.
    try { openSegment(p, f.dataKey, f.fileId, index, true, rec); } catch {
      try { openSegment(p, f.dataKey, f.fileId, index, false, rec); } catch { return; }
    }
    const w = await this.inner.write(c, { offset: recordOffset(index) });
    const done = Promise.race([once(w, 'finish'), once(w, 'error').then(([e]) => { throw e; })]);
    w.end(rec);
    await done;
    await w.commit();
  }

  /** Reads and opens the header of an encrypted file of `stored` bytes. */
  private async open(p: string, header: Buffer, stored: number): Promise<OpenFile> {
    const plain = plainSize(stored);
    if (plain < 0) throw new UnreadableDataError(p, `stored size ${stored} is no encrypted file's`);
    const h = parseHeader(p, header);
    let failure: Error | undefined;
    for (const slot of h.slots) {
      try {
        const dataKey = await this.keys.open(slot.keyId, slot.wrapped, wrapAad(h.fileId));
        return { fileId: h.fileId, dataKey, stored, plain, slot, slots: h.slots };
      } catch (e) {
        if (!(e instanceof KeyUnavailableError) && !(e instanceof KeyMismatchError)) throw e;
        failure ??= e;
      }
    }
    throw new UnreadableDataError(p, failure?.message ?? 'no key slot opens');
  }

  private async openPath(p: string, c: string, stored: number): Promise<OpenFile> {
    return this.open(p, await this.inner.readBuffer(c, { start: 0, end: HEADER_SIZE - 1 }), stored);
  }

  async read(p: string, opts: { start?: number; end?: number; signal?: AbortSignal } = {}): Promise<Readable> {
    const c = this.cipherPath(p);
    const st = await this.inner.stat(c);
    if (!st) return this.inner.read(p, opts);
    const f = await this.openPath(p, c, st.size);
    const start = opts.start ?? 0;
    const end = Math.min(opts.end ?? f.plain - 1, f.plain - 1);
    if (start > end) return Readable.from([], { objectMode: false });
    const source = await this.inner.read(c, { start: recordOffset(Math.floor(start / SEGMENT_SIZE)), end: Math.min(recordOffset(Math.floor(end / SEGMENT_SIZE) + 1), f.stored) - 1, signal: opts.signal });
    return Readable.from(decrypt(p, f, start, end, source), { objectMode: false, signal: opts.signal });
  }

  /**
   * A range copied to a sink in batches of segments: the next batch is read while this one is
   * decrypted and written. The first batch is opened here, so content that fails its check at the
   * start fails before any byte is sent.
   */
  async openRange(p: string, start: number, end: number): Promise<RangeSource> {
    const c = this.cipherPath(p);
    const st = await this.inner.stat(c);
    if (!st) {
      if (this.inner.openRange) return this.inner.openRange(p, start, end);
      const stream = await this.inner.read(p, { start, end });
      return { pipeTo: (sink, signal) => copyStream(stream, sink, signal), close: async () => { stream.destroy(); } };
    }
    const f = await this.openPath(p, c, st.size);
    const last = Math.floor(Math.min(end, f.plain - 1) / SEGMENT_SIZE);
    const lastIndex = segmentCount(f.plain) - 1;
    const first = Math.floor(start / SEGMENT_SIZE);
    const stop = Math.min(end, f.plain - 1);
    const readBatch = (i: number) => this.inner.readBuffer(c, { start: recordOffset(i), end: Math.min(recordOffset(Math.min(i + RANGE_BATCH, last + 1)), f.stored) - 1 });
    // A batch opened on a cipher thread, cut to the range.
    const openBatch = async (i: number): Promise<Buffer[]> => {
      const plain = await this.ciphers.open(p, f.dataKey, f.fileId, i, lastIndex, expect(i, await readBatch(i)));
      const from = i * SEGMENT_SIZE;
      const s0 = Math.max(start, from) - from;
      const e0 = Math.min(stop + 1, from + plain.length) - from;
      return [s0 === 0 && e0 === plain.length ? plain : plain.subarray(s0, e0)];
    };
    const decryptBatch = (i: number, body: Buffer): Buffer[] => {
      const out: Buffer[] = [];
      for (let at = 0; at < body.length; i++) {
        const len = Math.min(RECORD_SIZE, body.length - at);
        const seg = openSegment(p, f.dataKey, f.fileId, i, i === lastIndex, body.subarray(at, at + len));
        at += len;
        const s0 = i === first ? start - i * SEGMENT_SIZE : 0;
        const e0 = i * SEGMENT_SIZE + seg.length - 1 > stop ? stop - i * SEGMENT_SIZE + 1 : seg.length;
        out.push(s0 === 0 && e0 === seg.length ? seg : seg.subarray(s0, e0));
      }
      return out;
    };
    const expect = (i: number, body: Buffer) => {
      const want = Math.min(recordOffset(Math.min(i + RANGE_BATCH, last + 1)), f.stored) - recordOffset(i);
      if (body.length !== want) throw new UnreadableDataError(p, 'shorter than its size says');
      return body;
    };
    const head = decryptBatch(first, expect(first, await readBatch(first)));
    return {
      async pipeTo(sink: Writable, signal?: AbortSignal): Promise<number> {
        const out = new SinkWriter(sink, signal);
        let sent = 0;
        // Batches after the first are read and opened ahead, a few at a time, while earlier ones are written.
        const ahead: Promise<Buffer[]>[] = [];
        let queued = first + RANGE_BATCH;
        const refill = () => {
          while (ahead.length < RANGE_AHEAD && queued <= last) {
            const b = openBatch(queued);
            b.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
            ahead.push(b);
            queued += RANGE_BATCH;
          }
        };
        try {
          refill();
          for (let chunks: Buffer[] | undefined = head; chunks; ) {
            for (const chunk of chunks) { await out.write(chunk); sent += chunk.length; }
            const b = ahead.shift();
            refill();
            chunks = b ? await b : undefined;
          }
          await out.drained();
          return sent;
        } finally {
          out.dispose();
        }
      },
      async close() {},
    };
  }

  async readBuffer(p: string, opts: { start?: number; end?: number } = {}): Promise<Buffer> {
    const c = this.cipherPath(p);
    for (let attempt = 1; ; attempt++) {
      const st = await this.inner.stat(c);
      if (!st) return this.inner.readBuffer(p, opts);
      try {
        return await this.readSealed(p, c, st, opts);
      } catch (e) {
        // Replaced between the stat and the read (a move over it): read the new file.
        const now = e instanceof UnreadableDataError && attempt < 3 ? await this.inner.stat(c) : null;
        if (!now || (now.size === st.size && now.modifiedAt.getTime() === st.modifiedAt.getTime())) throw e;
      }
    }
  }

  private async readSealed(p: string, c: string, st: StorageStat, opts: { start?: number; end?: number }): Promise<Buffer> {
    const plain = plainSize(st.size);
    if (plain < 0) throw new UnreadableDataError(p, `stored size ${st.size} is no encrypted file's`);
    const start = opts.start ?? 0;
    const end = Math.min(opts.end ?? plain - 1, plain - 1);
    const first = Math.floor(start / SEGMENT_SIZE);
    const last = Math.floor(Math.max(end, start) / SEGMENT_SIZE);
    const to = Math.min(recordOffset(last + 1), st.size) - 1;
    // A range in the first segments comes with the header in one read.
    const from = first === 0 ? 0 : recordOffset(first);
    const body = await this.inner.readBuffer(c, { start: from, end: to });
    const header = from === 0 ? body : await this.inner.readBuffer(c, { start: 0, end: HEADER_SIZE - 1 });
    const f = await this.open(p, header, st.size);
    if (start > end) return Buffer.alloc(0);
    if (body.length !== to - from + 1) throw new UnreadableDataError(p, 'shorter than its size says');
    const lastIndex = segmentCount(plain) - 1;
    const out = Buffer.allocUnsafe(end - start + 1);
    let o = 0;
    for (let i = first; i <= last; i++) {
      const recStart = recordOffset(i) - from;
      const rec = body.subarray(recStart, Math.min(recordOffset(i + 1), st.size) - from);
      const seg = openSegment(p, f.dataKey, f.fileId, i, i === lastIndex, rec);
      const s = i === first ? start - i * SEGMENT_SIZE : 0;
      const e = i === last ? end - i * SEGMENT_SIZE + 1 : seg.length;
      o += seg.copy(out, o, s, e);
    }
    return out;
  }

  async write(p: string, opts: { offset?: number; signal?: AbortSignal } = {}): Promise<StorageWriter> {
    const c = this.cipherPath(p);
    const offset = opts.offset ?? 0;
    if (!this.opts.encryptWrites) return this.writePlain(p, c, offset, opts.signal);
    if (offset === 0) return this.create(c, opts.signal, () => this.inner.delete(p));
    const st = await this.settle(p, c);
    if (st) return this.append(p, c, st.size, offset, opts.signal);
    // A plain file from before encryption was on (an upload in progress): encrypt what it holds, then go on.
    const plain = await this.inner.stat(p);
    if (!plain || plain.size < offset) throw new Error(`cannot write at ${offset}: ${p} is shorter`);
    const w = await this.create(c, opts.signal, () => this.inner.delete(p));
    await feed(w, await this.inner.read(p, { start: 0, end: offset - 1 }), offset);
    return w;
  }

  /** A new encrypted file at c (replacing what is there), with a fresh data key. */
  private async create(c: string, signal: AbortSignal | undefined, afterCommit?: () => Promise<void>, target?: string): Promise<EncryptingWriter> {
    const fileId = newFileId();
    const { keyId, dataKey, wrapped } = await this.keys.create(wrapAad(fileId));
    const header = encodeHeader(fileId, encodeSlot(1, keyId, wrapped));
    // No signal below: on abort, what was taken is sealed and kept (see EncryptingWriter.abort).
    const w = await this.inner.write(target ?? c, {});
    return new EncryptingWriter(w, dataKey, fileId, 0, Buffer.alloc(0), header, signal, afterCommit);
  }

  /**
   * Continues an encrypted file at `offset` (plaintext), dropping what lies past it: the segment that
   * holds the offset is opened and re-sealed with what follows, under a fresh nonce.
   */
  private async append(p: string, c: string, stored: number, offset: number, signal?: AbortSignal): Promise<StorageWriter> {
    const f = await this.openPath(p, c, stored);
    if (offset > f.plain) throw new Error(`cannot write at ${offset}: ${p} holds ${f.plain} bytes`);
    // At a segment boundary the segment before is re-sealed too: it becomes (or stays) the last.
    const carryIndex = offset % SEGMENT_SIZE !== 0 ? Math.floor(offset / SEGMENT_SIZE) : offset / SEGMENT_SIZE - 1;
    const lastIndex = segmentCount(f.plain) - 1;
    const rec = await this.inner.readBuffer(c, { start: recordOffset(carryIndex), end: Math.min(recordOffset(carryIndex + 1), stored) - 1 });
    let seg: Buffer;
    try {
      seg = openSegment(p, f.dataKey, f.fileId, carryIndex, carryIndex === lastIndex, rec);
    } catch (e) {
      // An upload cut off by a crash ends without its last segment; what it holds is still authentic.
      if (carryIndex !== lastIndex) throw e;
      seg = openSegment(p, f.dataKey, f.fileId, carryIndex, false, rec);
    }
    // The segment is rewritten in place: until the new one is whole, the old one waits beside (settle).
    const carryPath = c + CARRY_SUFFIX;
    const index = Buffer.alloc(8);
    index.writeBigUInt64BE(BigInt(carryIndex));
    const cw = await this.inner.write(carryPath);
    const carried = Promise.race([once(cw, 'finish'), once(cw, 'error').then(([e]) => { throw e; })]);
    cw.end(Buffer.concat([index, rec]));
    await carried;
    // Not durable, as chunks are not: after a power loss a session behind its file ends (upload-service).
    await cw.commit({ durable: false });
    const w = await this.inner.write(c, { offset: recordOffset(carryIndex) });
    return new EncryptingWriter(w, f.dataKey, f.fileId, carryIndex, seg.subarray(0, offset - carryIndex * SEGMENT_SIZE), undefined, signal,
      () => this.inner.delete(carryPath));
  }

  private async writePlain(p: string, c: string, offset: number, signal?: AbortSignal): Promise<StorageWriter> {
    const st = offset === 0 ? null : await this.inner.stat(c);
    if (offset > 0 && !st) return this.inner.write(p, { offset, signal });
    // New, or an encrypted file while encryption is being turned off: its prefix is decrypted into a plain one.
    const prefix = st ? await this.read(p, { start: 0, end: offset - 1 }) : undefined;
    const w = await this.inner.write(p, { signal });
    const commit = w.commit.bind(w);
    w.commit = async (o) => { await commit(o); await this.inner.delete(c); };
    if (prefix) await feed(w, prefix, offset);
    return w;
  }

  async move(from: string, to: string, opts?: { durable?: boolean }): Promise<void> {
    const cf = this.cipherPath(from);
    const ct = this.cipherPath(to);
    if (await this.inner.stat(cf)) {
      await this.inner.move(cf, ct, opts);
      // A plain leftover under either name must not outlive the move.
      await this.inner.delete(to);
      await this.inner.delete(from);
      return;
    }
    await this.inner.move(from, to, opts);
    await this.inner.delete(ct);
  }

  async delete(p: string): Promise<void> {
    const c = this.cipherPath(p);
    await this.inner.delete(c);
    await this.inner.delete(c + CARRY_SUFFIX);
    await this.inner.delete(p);
  }

  async abandonWritesBefore(before: Date): Promise<number> {
    return (await this.inner.abandonWritesBefore?.(before)) ?? 0;
  }

  async *list(prefix: string): AsyncIterable<StorageEntry> {
    for await (const e of this.inner.list(prefix)) {
      if (e.path.endsWith(ENCRYPTED_SUFFIX + CARRY_SUFFIX)) continue;
      if (e.path.endsWith(ENCRYPTED_SUFFIX)) {
        yield { path: e.path.slice(0, -ENCRYPTED_SUFFIX.length), size: Math.max(plainSize(e.size), 0), modifiedAt: e.modifiedAt };
      } else if (!(await this.inner.stat(e.path + ENCRYPTED_SUFFIX))) {
        yield e;
      }
    }
  }

  // --- conversion and rotation (the storage-encryption job)

  /** Every stored file below prefix with its form; a path converted midway may come twice. */
  async *files(prefix: string): AsyncIterable<{ path: string; encrypted: boolean }> {
    for await (const e of this.inner.list(prefix)) {
      if (e.path.endsWith(ENCRYPTED_SUFFIX + CARRY_SUFFIX)) continue;
      if (e.path.endsWith(ENCRYPTED_SUFFIX)) yield { path: e.path.slice(0, -ENCRYPTED_SUFFIX.length), encrypted: true };
      else yield { path: e.path, encrypted: false };
    }
  }

  /** The form of what is stored at p (null: nothing); for an encrypted file, the key that opens it. */
  async inspect(p: string): Promise<StoredForm | null> {
    const c = this.cipherPath(p);
    const st = await this.inner.stat(c);
    if (!st) return (await this.inner.stat(p)) ? { encrypted: false } : null;
    const f = await this.openPath(p, c, st.size);
    return { encrypted: true, keyId: f.slot.keyId };
  }

  /**
   * Wraps p's data key under the current key-encryption key, in the header slot not in use (the data
   * stays as it is). 'current' when it already is; 'absent' when p is no encrypted file (any more).
   */
  async rewrap(p: string): Promise<'rewrapped' | 'current' | 'absent'> {
    const c = this.cipherPath(p);
    const st = await this.inner.stat(c);
    if (!st) return 'absent';
    let f: OpenFile;
    try {
      f = await this.openPath(p, c, st.size);
    } catch (e) {
      if (e instanceof NotFoundError) return 'absent';
      throw e;
    }
    const current = await this.keys.currentKeyId();
    if (f.slot.keyId === current && f.slots[0] === f.slot) return 'current';
    const { wrapped } = await this.keys.wrap(f.dataKey, wrapAad(f.fileId), current);
    const target = f.slot.index === 0 ? 1 : 0;
    const slot = encodeSlot(Math.max(...f.slots.map((s) => s.seq)) + 1, current, wrapped);
    try {
      if (this.inner.overwrite) {
        await this.inner.overwrite(c, slotOffset(target), slot);
      } else {
        // A driver that cannot write in place: the whole file is rewritten beside and moved over.
        const header = Buffer.from(await this.inner.readBuffer(c, { start: 0, end: HEADER_SIZE - 1 }));
        slot.copy(header, slotOffset(target));
        const tmp = `${CONVERT_PREFIX}/${randomUUID()}`;
        const w = await this.inner.write(tmp);
        w.write(header);
        await feed(w, await this.inner.read(c, { start: HEADER_SIZE }), st.size - HEADER_SIZE, true);
        await w.commit();
        await this.inner.move(tmp, c);
      }
    } catch (e) {
      if (e instanceof NotFoundError) return 'absent';
      throw e;
    }
    return 'rewrapped';
  }

  /**
   * Rewrites p in the other form, built beside it and moved into place, so readers see the old or the
   * new form and never neither. `digest` (sha256 hex), when given, must match the plaintext, or nothing
   * changes. False when p already has that form or is gone.
   */
  async convert(p: string, to: 'encrypted' | 'plain', digest?: string): Promise<boolean> {
    const c = this.cipherPath(p);
    const enc = await this.settle(p, c);
    const plain = await this.inner.stat(p);
    if (to === 'encrypted' && enc) return false;
    if (to === 'plain' && !enc) return false;
    if (to === 'encrypted' && !plain) return false;
    const tmp = `${CONVERT_PREFIX}/${randomUUID()}`;
    try {
      const source = to === 'encrypted' ? await this.inner.read(p) : await this.read(p);
      const w = to === 'encrypted' ? await this.create(c, undefined, undefined, tmp) : await this.inner.write(tmp);
      const hash = createHash('sha256');
      source.on('data', (chunk: Buffer) => hash.update(chunk));
      await feed(w, source, to === 'encrypted' ? plain!.size : plainSize(enc!.size), true);
      await w.commit();
      if (digest !== undefined && hash.digest('hex') !== digest) throw new UnreadableDataError(p, 'content does not match its digest; left as it is');
      await this.inner.move(tmp, to === 'encrypted' ? c : p);
    } catch (e) {
      await this.inner.delete(tmp).catch(() => undefined);
      if (e instanceof NotFoundError) return false;
      throw e;
    }
    await this.inner.delete(to === 'encrypted' ? p : c);
    return true;
  }

  /** Removes what conversions cut off by a crash left behind (older than `olderThanMs`). */
  async cleanConversions(olderThanMs: number): Promise<number> {
    let n = 0;
    for await (const e of this.inner.list(CONVERT_PREFIX)) {
      if (Date.now() - e.modifiedAt.getTime() < olderThanMs) continue;
      await this.inner.delete(e.path);
      n++;
    }
    return n;
  }
}

/** Plaintext of bytes [start, end] from the stream of the records that hold them. */
async function* decrypt(p: string, f: OpenFile, start: number, end: number, source: Readable): AsyncGenerator<Buffer> {
  const first = Math.floor(start / SEGMENT_SIZE);
  const last = Math.floor(end / SEGMENT_SIZE);
  const lastIndex = segmentCount(f.plain) - 1;
  const recordLength = (i: number) => (i < lastIndex ? RECORD_SIZE : f.stored - recordOffset(i));
  let i = first;
  let pending: Buffer | undefined; // the start of a record split across chunks
  const emit = (rec: Buffer): Buffer => {
    const seg = openSegment(p, f.dataKey, f.fileId, i, i === lastIndex, rec);
    const s = i === first ? start - i * SEGMENT_SIZE : 0;
    const e = i === last ? end - i * SEGMENT_SIZE + 1 : seg.length;
    i++;
    return s === 0 && e === seg.length ? seg : seg.subarray(s, e);
  };
  for await (const chunk of source as AsyncIterable<Buffer>) {
    let off = 0;
    if (pending) {
      const need = recordLength(i) - pending.length;
      if (chunk.length < need) { pending = Buffer.concat([pending, chunk]); continue; }
      const rec = Buffer.concat([pending, chunk.subarray(0, need)]);
      pending = undefined;
      off = need;
      yield emit(rec);
    }
    while (i <= last && chunk.length - off >= recordLength(i)) {
      const len = recordLength(i);
      const rec = chunk.subarray(off, off + len);
      off += len;
      yield emit(rec);
    }
    if (off < chunk.length && i <= last) pending = Buffer.from(chunk.subarray(off));
  }
  if (i <= last) throw new UnreadableDataError(p, 'shorter than its size says');
}

/** Segments read (and decrypted) at a time by openRange: 1 MiB. */
const RANGE_BATCH = 16;
/** Batches openRange has in flight beyond the one being written. */
const RANGE_AHEAD = 3;

/** Writes to a sink with backpressure, failing as soon as the sink closes or errs (or `signal` aborts). */
class SinkWriter {
  private failure: Error | undefined;
  private readonly onGone = () => { this.failure ??= new Error('sink closed'); this.wake?.(); };
  private readonly onError = (e: Error) => { this.failure ??= e; this.wake?.(); };
  private wake: (() => void) | undefined;

  constructor(private readonly sink: Writable, private readonly signal?: AbortSignal) {
    sink.once('close', this.onGone);
    sink.once('error', this.onError);
    signal?.addEventListener('abort', this.onGone, { once: true });
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.sink.write(chunk)) return;
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      this.sink.once('drain', resolve);
    });
    this.sink.off('drain', this.wake!);
    this.wake = undefined;
    if (this.failure) throw this.failure;
  }

  async drained(): Promise<void> {
    if (this.failure) throw this.failure;
  }

  dispose(): void {
    this.sink.off('close', this.onGone);
    this.sink.off('error', this.onError);
    this.signal?.removeEventListener('abort', this.onGone);
  }
}

async function copyStream(source: Readable, sink: Writable, signal?: AbortSignal): Promise<number> {
  const out = new SinkWriter(sink, signal);
  let n = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) { await out.write(chunk); n += chunk.length; }
    return n;
  } finally {
    out.dispose();
    source.destroy();
  }
}

/** Writes `bytes` bytes of source into w (without ending it unless `end`), with backpressure. */
async function feed(w: Writable, source: Readable, bytes: number, end = false): Promise<void> {
  let n = 0;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (!w.write(chunk)) await once(w, 'drain');
  }
  if (n !== bytes) throw new Error(`expected ${bytes} bytes, read ${n}`);
  if (end) {
    w.end();
    await once(w, 'finish');
  }
}

/**
 * Seals what is written into segments: a full segment is sealed once the next byte arrives (only then is
 * it known not to be the last), the rest when the stream ends. Chunks are copied, so they are free once
 * their write is called back.
 */
class EncryptingWriter extends Writable implements StorageWriter {
  readonly releasesChunks = true;
  private readonly buf = Buffer.allocUnsafe(SEGMENT_SIZE);
  private fill: number;
  private sealed = false;
  private innerFailed = false;

  constructor(
    private readonly inner: StorageWriter, private readonly dataKey: Buffer, private readonly fileId: Buffer, private index: number,
    carry: Buffer, header: Buffer | undefined, signal: AbortSignal | undefined, private readonly afterCommit?: () => Promise<void>,
  ) {
    super({ highWaterMark: 256 * 1024 });
    this.fill = carry.copy(this.buf);
    inner.on('error', (e) => { this.innerFailed = true; this.destroy(e); });
    if (header) inner.write(header);
    if (signal) {
      const onAbort = () => this.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        this.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    let ok = true;
    try {
      let off = 0;
      while (off < chunk.length) {
        if (this.fill === SEGMENT_SIZE) {
          ok = this.writeRecord(this.buf) && ok;
          this.fill = 0;
        }
        // Whole segments with more bytes after them are sealed straight from the chunk, uncopied.
        while (this.fill === 0 && chunk.length - off > SEGMENT_SIZE) {
          ok = this.writeRecord(chunk.subarray(off, off + SEGMENT_SIZE)) && ok;
          off += SEGMENT_SIZE;
        }
        const n = chunk.copy(this.buf, this.fill, off);
        this.fill += n;
        off += n;
      }
    } catch (e) {
      cb(e as Error);
      return;
    }
    if (ok) cb();
    else this.inner.once('drain', () => cb());
  }

  /** Seals one full, not-last segment; its parts go down separately (the stream below joins writes). */
  private writeRecord(plain: Buffer): boolean {
    const [nonce, body, tag] = sealSegmentParts(this.dataKey, this.fileId, this.index++, false, plain);
    this.inner.write(nonce);
    this.inner.write(body);
    return this.inner.write(tag);
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.sealTail().then(() => cb(), cb);
  }

  private async sealTail(): Promise<void> {
    if (this.sealed) return;
    this.sealed = true;
    const rec = sealSegment(this.dataKey, this.fileId, this.index, true, this.buf.subarray(0, this.fill));
    const done = Promise.race([once(this.inner, 'finish'), once(this.inner, 'error').then(([e]) => { throw e; })]);
    this.inner.end(rec);
    await done;
  }

  async commit(opts?: { durable?: boolean }): Promise<void> {
    await this.inner.commit(opts);
    await this.afterCommit?.();
  }

  /**
   * Keeps what was taken (sealed, with its last segment), as the driver below keeps bytes written before
   * an abort: an upload cut off resumes from there. When that cannot be done, the file below is abandoned.
   */
  async abort(): Promise<void> {
    if (!this.sealed && !this.innerFailed && !this.inner.destroyed) {
      try {
        await this.sealTail();
        await this.inner.commit({ durable: false });
        await this.afterCommit?.();
        if (!this.destroyed) this.destroy();
        return;
      } catch { /* abandoned below */ }
    }
    await this.inner.abort();
    if (!this.destroyed) this.destroy();
  }
}
