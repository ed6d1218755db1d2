// Opening batches of sealed segments on other threads: a large pull then decrypts on one core while the
// event loop reads the next batch and writes the last one to the socket. Results are the same as
// openSegment's (the unit tests compare them); a segment that fails its check fails the whole batch.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { UnreadableDataError } from '../driver.js';
import { NONCE_SIZE, RECORD_SIZE, SEGMENT_OVERHEAD, TAG_SIZE } from './format.js';

/** Buffers smaller than this may live in Node's shared allocation pool, which must never be moved. */
const POOL_SAFE = Buffer.poolSize;
/** Bytes a thread opens between collections of the buffers it is done with (they come from another isolate). */
const GC_BYTES = 8 * 1024 * 1024;

// CommonJS, evaluated from a string (as the hashing threads): the same code runs from src/ (tsx) and dist/.
// The AAD is format.ts's: file id | u64 big-endian segment index | 1 if last.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createDecipheriv } = require('node:crypto');
const collect = globalThis.gc ?? (require('node:v8').setFlagsFromString('--expose-gc'), require('node:vm').runInNewContext('gc'));
const NONCE = ${NONCE_SIZE}, TAG = ${TAG_SIZE}, RECORD = ${RECORD_SIZE}, OVERHEAD = ${SEGMENT_OVERHEAD}, GC_BYTES = ${GC_BYTES};
let sinceGc = 0;
parentPort.on('message', (m) => {
  const body = Buffer.from(m.body);
  const key = Buffer.from(m.key);
  const aad = Buffer.alloc(m.fileId.byteLength + 9);
  Buffer.from(m.fileId).copy(aad, 0);
  const records = Math.ceil(body.length / RECORD);
  const out = Buffer.allocUnsafeSlow(body.length - records * OVERHEAD);
  let o = 0;
  for (let at = 0, i = m.index; at < body.length; i++) {
    const len = Math.min(RECORD, body.length - at);
    if (len < OVERHEAD) { parentPort.postMessage({ id: m.id, failed: i, why: 'bad length' }); return; }
    aad.writeBigUInt64BE(BigInt(i), aad.length - 9);
    aad[aad.length - 1] = i === m.lastIndex ? 1 : 0;
    const d = createDecipheriv('aes-256-gcm', key, body.subarray(at, at + NONCE));
    d.setAAD(aad);
    d.setAuthTag(body.subarray(at + len - TAG, at + len));
    o += d.update(body.subarray(at + NONCE, at + len - TAG)).copy(out, o);
    try { d.final(); } catch { parentPort.postMessage({ id: m.id, failed: i, why: 'auth' }); return; }
    at += len;
  }
  parentPort.postMessage({ id: m.id, plain: out.buffer }, [out.buffer]);
  sinceGc += body.length;
  if (sinceGc >= GC_BYTES) { sinceGc = 0; collect({ type: 'minor' }); }
});
`;

interface Pending { resolve: (b: Buffer) => void; reject: (e: Error) => void; path: string; lastIndex: number }

class CipherThread {
  readonly worker: Worker;
  readonly pending = new Map<number, Pending>();
  dead: Error | undefined;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, name: 'berth-cipher' });
    this.worker.unref();
    this.worker.on('message', (m: { id: number; plain?: ArrayBuffer; failed?: number; why?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      // Idle threads must not keep the process alive (unref only holds once the thread has answered).
      if (this.pending.size === 0) this.worker.unref();
      if (m.plain) p.resolve(Buffer.from(m.plain));
      else p.reject(new UnreadableDataError(p.path, m.why === 'auth'
        ? `segment ${m.failed} fails authentication${m.failed === p.lastIndex ? ' as the last segment (truncated?)' : ''}`
        : `segment ${m.failed} has a bad length`));
    });
    const fail = (e: Error) => {
      if (this.dead) return;
      this.dead = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`cipher thread exited (code ${code})`)));
  }
}

export class CipherPool {
  private threads: CipherThread[] = [];
  private next = 0;
  private seq = 0;

  /** One thread fewer than the cores (at least one, at most four): the event loop keeps a core. */
  constructor(private readonly size = Math.min(4, Math.max(1, availableParallelism() - 1))) {}

  /**
   * The plaintext of consecutive records (`body`, whose first is segment `index`) of the file `path`.
   * `body` is handed over to the thread: it must not be used afterwards.
   */
  open(path: string, dataKey: Buffer, fileId: Buffer, index: number, lastIndex: number, body: Buffer): Promise<Buffer> {
    const t = this.thread();
    const id = ++this.seq;
    // Only a buffer that owns its memory can be moved (never a slice of Node's shared pool); another is copied.
    let own: ArrayBuffer;
    if (body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.byteLength >= POOL_SAFE) {
      own = body.buffer as ArrayBuffer;
    } else {
      own = new ArrayBuffer(body.byteLength);
      new Uint8Array(own).set(body);
    }
    return new Promise<Buffer>((resolve, reject) => {
      if (t.pending.size === 0) t.worker.ref();
      t.pending.set(id, { resolve, reject, path, lastIndex });
      t.worker.postMessage({ id, key: new Uint8Array(dataKey), fileId: new Uint8Array(fileId), index, lastIndex, body: own }, [own]);
    });
  }

  private thread(): CipherThread {
    this.threads = this.threads.filter((t) => !t.dead);
    if (this.threads.length < this.size) {
      const t = new CipherThread();
      this.threads.push(t);
      return t;
    }
    return this.threads[this.next++ % this.threads.length];
  }
}
