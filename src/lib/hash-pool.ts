// Digests of large uploads are computed on a few worker threads, so the event loop only moves bytes:
// hashing at ~1.5 GB/s was a third of the loop's time under parallel pushes. Small inputs hash inline,
// where a thread round trip would cost more than the hashing.
import { availableParallelism } from 'node:os';
import { createHash, type Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

export interface IncrementalHash {
  /**
   * Feeds bytes, in order. With `handOff` the chunk's memory may move to the hashing thread: the caller
   * promises never to touch the chunk again (a sink must have finished with it).
   */
  update(chunk: Buffer, handOff?: boolean): void;
  /** Hex digest of everything fed; the hash is finished afterwards. */
  digest(): Promise<string>;
  /** Bytes fed but not hashed yet. */
  readonly backlog: number;
  /** True while the backlog is over its bound: stop feeding until whenReady calls back. */
  full(): boolean;
  whenReady(cb: () => void): void;
  /** Abandons the hash and frees its state. */
  dispose(): void;
}

/** Bytes per message to a hashing thread: large enough to amortize the hop, small enough to overlap. */
const BATCH_BYTES = 1024 * 1024;
/** Bytes one hash may have in flight before its feeder should pause. */
const MAX_BACKLOG = 4 * 1024 * 1024;

/** Bytes a hashing thread hashes between collections of the chunks it is done with. */
const GC_BYTES = 8 * 1024 * 1024;

// CommonJS, evaluated from a string: the same code runs from src/ (tsx) and dist/ without a file to find.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
// Chunks arrive from another isolate, so this one feels no memory pressure from them and would keep
// hashed chunks alive until some unrelated collection: collect every few MiB instead (a tiny heap).
// (The flag is process-wide: a later thread finds gc already global.)
const collect = globalThis.gc ?? (require('node:v8').setFlagsFromString('--expose-gc'), require('node:vm').runInNewContext('gc'));
const GC_BYTES = ${GC_BYTES};
let sinceGc = 0;
const hashes = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'create') { hashes.set(m.id, createHash(m.algorithm)); return; }
  if (m.op === 'drop') { hashes.delete(m.id); return; }
  const h = hashes.get(m.id);
  if (m.op === 'update') {
    let n = 0;
    for (const c of m.chunks) { if (h) h.update(c); n += c.byteLength; }
    parentPort.postMessage({ op: 'ack', id: m.id, bytes: n });
    sinceGc += n;
    if (sinceGc >= GC_BYTES) { sinceGc = 0; m.chunks = null; collect({ type: 'minor' }); }
  } else if (m.op === 'digest') {
    hashes.delete(m.id);
    parentPort.postMessage({ op: 'digest', id: m.id, hex: h ? h.digest('hex') : null });
  }
});
`;

class InlineHash implements IncrementalHash {
  private readonly hash: Hash;
  readonly backlog = 0;
  constructor(algorithm: string) { this.hash = createHash(algorithm); }
  update(chunk: Buffer): void { this.hash.update(chunk); }
  async digest(): Promise<string> { return this.hash.digest('hex'); }
  full(): boolean { return false; }
  whenReady(cb: () => void): void { cb(); }
  dispose(): void { /* nothing held */ }
}

interface Pending { resolve: (hex: string) => void; reject: (e: Error) => void }

class HashThread {
  readonly worker: Worker;
  readonly hashes = new Map<number, ThreadHash>();
  private readonly digests = new Map<number, Pending>();
  dead: Error | undefined;

  constructor(onExit: (t: HashThread) => void) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, name: 'berth-hash' });
    this.worker.unref();
    this.worker.on('message', (m: { op: string; id: number; bytes?: number; hex?: string | null }) => {
      if (m.op === 'ack') this.hashes.get(m.id)?.acked(m.bytes!);
      else if (m.op === 'digest') {
        const p = this.digests.get(m.id);
        this.digests.delete(m.id);
        this.hashes.delete(m.id);
        if (m.hex) p?.resolve(m.hex);
        else p?.reject(new Error('hashing thread lost the hash'));
      }
    });
    const fail = (e: Error) => {
      if (this.dead) return;
      this.dead = e;
      for (const p of this.digests.values()) p.reject(e);
      this.digests.clear();
      for (const h of this.hashes.values()) h.acked(Number.MAX_SAFE_INTEGER);
      onExit(this);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`hashing thread exited (code ${code})`)));
  }

  post(msg: { op: string; id: number; algorithm?: string; chunks?: Uint8Array[] }, transfer: ArrayBuffer[] = []): void {
    if (this.dead) return;
    this.worker.postMessage(msg, transfer);
  }

  digest(id: number): Promise<string> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.digests.set(id, { resolve, reject });
      this.post({ op: 'digest', id });
    });
  }
}

let nextId = 1;

class ThreadHash implements IncrementalHash {
  private readonly id = nextId++;
  /** Chunks not posted yet; each owns its whole ArrayBuffer, which moves with it. */
  private chunks: Uint8Array[] = [];
  private pendingBytes = 0;
  private inFlight = 0;
  private waiters: (() => void)[] = [];
  private finished = false;

  constructor(private readonly thread: HashThread, algorithm: string) {
    thread.hashes.set(this.id, this);
    thread.post({ op: 'create', id: this.id, algorithm });
  }

  get backlog(): number { return this.pendingBytes + this.inFlight; }

  update(chunk: Buffer, handOff = false): void {
    if (this.finished) throw new Error('hash already finished');
    if (chunk.length === 0) return;
    const ab = chunk.buffer;
    // Only a chunk that owns its whole ArrayBuffer can move; anything else (a pooled slice) is copied.
    const owns = handOff && ab instanceof ArrayBuffer && chunk.byteOffset === 0 && chunk.byteLength === ab.byteLength;
    this.chunks.push(owns ? chunk : new Uint8Array(chunk));
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= BATCH_BYTES) this.flush();
    else if (this.chunks.length === 1) setImmediate(() => this.flush());
  }

  private flush(): void {
    if (this.chunks.length === 0) return;
    const chunks = this.chunks;
    this.chunks = [];
    this.inFlight += this.pendingBytes;
    this.pendingBytes = 0;
    try {
      this.thread.post({ op: 'update', id: this.id, chunks }, chunks.map((c) => c.buffer as ArrayBuffer));
    } catch {
      // A buffer that cannot move (marked untransferable) goes by copy.
      this.thread.post({ op: 'update', id: this.id, chunks: chunks.map((c) => new Uint8Array(c)) });
    }
  }

  acked(bytes: number): void {
    this.inFlight = Math.max(0, this.inFlight - bytes);
    if (!this.full() && this.waiters.length) {
      const w = this.waiters;
      this.waiters = [];
      for (const cb of w) cb();
    }
  }

  full(): boolean { return this.backlog > MAX_BACKLOG; }

  whenReady(cb: () => void): void {
    if (!this.full()) cb();
    else this.waiters.push(cb);
  }

  digest(): Promise<string> {
    if (this.finished) return Promise.reject(new Error('hash already finished'));
    this.flush();
    this.finished = true;
    return this.thread.digest(this.id);
  }

  dispose(): void {
    if (this.finished) return;
    this.finished = true;
    this.chunks = [];
    this.thread.hashes.delete(this.id);
    this.thread.post({ op: 'drop', id: this.id });
    this.acked(Number.MAX_SAFE_INTEGER);
  }
}

export class HashPool {
  private readonly threads: (HashThread | undefined)[];
  private turn = 0;

  /** threads: how many hashing threads at most (started on first use); 0 hashes everything inline. */
  constructor(threads = Math.max(1, Math.min(4, availableParallelism() - 1))) {
    this.threads = new Array(threads).fill(undefined);
  }

  /** A hash for `expectedBytes` (undefined: unknown, maybe large) of input. */
  create(algorithm: string, expectedBytes?: number): IncrementalHash {
    if (this.threads.length === 0 || (expectedBytes !== undefined && expectedBytes < BATCH_BYTES)) return new InlineHash(algorithm);
    const i = this.turn++ % this.threads.length;
    let t = this.threads[i];
    if (!t || t.dead) {
      t = new HashThread((dead) => { if (this.threads[i] === dead) this.threads[i] = undefined; });
      this.threads[i] = t;
    }
    return new ThreadHash(t, algorithm);
  }

  async close(): Promise<void> {
    const threads = this.threads.splice(0).filter((t): t is HashThread => t !== undefined);
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }
}
