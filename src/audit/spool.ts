// An audit spool: records of actions that change nothing (pulls, logins, denials) are appended to a local
// file first and moved into the database chain right after, in batches. The caller is answered once its
// line is in the file, so a process crash cannot lose it, and a database that is locked, read-only or down
// holds no pull up: the records wait here and go in when it can take them. Each file's progress (bytes in
// the chain) moves in the transaction that appends its records, so after a crash the file is taken over
// exactly where it stopped, by this process's successor or by any live process on the machine.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { MetadataStore, Tx } from '../db/database.js';
import { forgetSpoolSegment, lockSpoolProgress, setSpoolProgress, spoolSegments } from '../db/audit-spool.js';

export interface SpoolOptions<T> {
  dir: string;
  /** names this spool's files (one spool per kind of record) */
  stream: string;
  /** unconsumed bytes beyond which appends are refused (the database has been away for long) */
  maxBytes: number;
  /** a file is closed for appends past this size, and removed once it is in the chain */
  segmentBytes?: number;
  /** moves `items` into the chain, inside the transaction that records the progress */
  commit: (tx: Tx, items: T[]) => Promise<void>;
  /** consume at most this often (summaries gather over a window); default: as soon as lines are written */
  everyMs?: number;
  /** records per transaction; 0 = whatever is waiting */
  batch?: number;
  log?: { warn(o: object, msg: string): void; info(o: object, msg: string): void };
}

/** Why an append was refused: the caller decides whether to answer without its record. */
export class SpoolUnavailableError extends Error {
  constructor(readonly reason: string, cause?: unknown) {
    super(`the audit spool cannot take records: ${reason}`, { cause });
  }
}

interface Segment { name: string; file: string; fh: FileHandle; size: number }
interface Waiting<T> { line: Buffer; value: T; resolve: () => void; reject: (e: unknown) => void }
interface Item<T> { value: T; segment: Segment; end: number; bytes: number }

const SEGMENT_BYTES = 4 * 1024 * 1024;
/** items waiting beyond which a windowed spool consumes without waiting for the window's end */
const EAGER_ITEMS = 2000;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;
const ADOPT_EVERY_MS = 30_000;

export class Spool<T> {
  private current?: Segment;
  private readonly closing = new Set<Segment>();
  private waiting: Waiting<T>[] = [];
  private items: Item<T>[] = [];
  private backlog = 0;
  private writing = false;
  private writeQueued = false;
  private consuming = false;
  private consumeTimer?: NodeJS.Timeout;
  private adoptTimer?: NodeJS.Timeout;
  private retryMs = RETRY_MIN_MS;
  private failing = false;
  private closed = false;
  private settled: (() => void)[] = [];
  private counter = 0;
  /** this process, as segment names spell it: host, pid, start time, and a per-spool random part */
  private readonly me = { host: safe(hostname()), pid: process.pid, start: processStart(process.pid), tag: randomBytes(4).toString('hex') };

  constructor(private readonly meta: MetadataStore, private readonly opts: SpoolOptions<T>) {}

  /** Creates the folder and takes over files of processes that are gone; then adopts again now and then. */
  async open(): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true, mode: 0o700 });
    await this.adopt();
    this.adoptTimer = setInterval(() => void this.adopt(), ADOPT_EVERY_MS);
    this.adoptTimer.unref();
  }

  /** Unconsumed bytes (for metrics and readiness). */
  get pendingBytes(): number { return this.backlog; }

  /** Resolves once `value`'s line is in the file; rejects with SpoolUnavailableError when it cannot be. */
  append(value: T): Promise<void> {
    if (this.closed) return Promise.reject(new SpoolUnavailableError('the spool is closed'));
    if (this.backlog >= this.opts.maxBytes) return Promise.reject(new SpoolUnavailableError(`${this.backlog} bytes wait for the database (audit.spool.maxBytes)`));
    return new Promise((resolve, reject) => {
      this.waiting.push({ line: Buffer.from(`${JSON.stringify(value)}\n`), value, resolve, reject });
      if (!this.writing && !this.writeQueued) {
        // One write for what the current turn of the event loop gathers.
        this.writeQueued = true;
        setImmediate(() => void this.write());
      }
    });
  }

  private async write(): Promise<void> {
    this.writeQueued = false;
    if (this.writing || this.waiting.length === 0) return;
    this.writing = true;
    const batch = this.waiting;
    this.waiting = [];
    let seg: Segment | undefined;
    try {
      seg = await this.segment();
      const buf = Buffer.concat(batch.map((w) => w.line));
      const { bytesWritten } = await seg.fh.write(buf, 0, buf.length, null);
      if (bytesWritten !== buf.length) throw Object.assign(new Error('short write to the audit spool'), { code: 'ENOSPC' });
      let end = seg.size;
      for (const w of batch) {
        end += w.line.length;
        this.items.push({ value: w.value, segment: seg, end, bytes: w.line.length });
      }
      seg.size = end;
      this.backlog += buf.length;
      for (const w of batch) w.resolve();
      // A window (everyMs) gathers summaries, but what waits for it is held in memory: under heavy pull
      // traffic (17,000 blob GETs a second) a window's worth cost tens of MiB, so a full batch goes now.
      this.scheduleConsume(this.items.length >= EAGER_ITEMS ? 0 : undefined);
    } catch (e) {
      // A torn line would be skipped on reading, but it would shift every later offset: cut it off.
      if (seg) await seg.fh.truncate(seg.size).catch(() => undefined);
      const reason = (e as NodeJS.ErrnoException).code === 'ENOSPC' ? 'its disk is full' : `writing failed (${(e as Error).message})`;
      for (const w of batch) w.reject(new SpoolUnavailableError(reason, e));
    } finally {
      this.writing = false;
      if (this.waiting.length > 0) void this.write();
    }
  }

  /** The file appends go to: a new one once the current is past its size. */
  private async segment(): Promise<Segment> {
    const cur = this.current;
    if (cur && cur.size < (this.opts.segmentBytes ?? SEGMENT_BYTES)) return cur;
    if (cur) {
      this.closing.add(cur);
      this.retireIfDone(cur);
    }
    const { host, pid, start, tag } = this.me;
    const name = `${this.opts.stream}.${host}.${pid}.${start}.${tag}.${++this.counter}.jsonl`;
    const file = path.join(this.opts.dir, name);
    const fh = await open(file, 'a', 0o600);
    this.current = { name, file, fh, size: 0 };
    return this.current;
  }

  private scheduleConsume(delay?: number): void {
    if (this.consuming) return;
    if (this.consumeTimer) {
      if (delay !== 0) return;
      clearTimeout(this.consumeTimer);
    }
    const ms = delay ?? this.opts.everyMs ?? 0;
    this.consumeTimer = setTimeout(() => { this.consumeTimer = undefined; void this.consume(); }, ms);
    // Nothing to keep the process up for: close() consumes what is left.
    this.consumeTimer.unref();
  }

  /** Moves what is written into the chain, one transaction per segment and batch, until nothing is left. */
  private async consume(): Promise<void> {
    if (this.consuming) return;
    this.consuming = true;
    try {
      while (this.items.length > 0) {
        const seg = this.items[0].segment;
        const limit = this.opts.batch || Infinity;
        let n = 0;
        while (n < this.items.length && n < limit && this.items[n].segment === seg) n++;
        const batch = this.items.slice(0, n);
        try {
          await this.commitBatch(seg.name, batch.map((b) => ({ value: b.value, end: b.end })));
        } catch (e) {
          if (!this.failing) this.opts.log?.warn({ err: e, waiting: this.items.length, stream: this.opts.stream }, 'audit records wait in the spool: the database does not take them now');
          this.failing = true;
          const wait = this.retryMs;
          this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
          this.consuming = false;
          this.scheduleConsume(wait);
          return;
        }
        if (this.failing) this.opts.log?.info({ stream: this.opts.stream }, 'audit records in the spool are going into the database again');
        this.failing = false;
        this.retryMs = RETRY_MIN_MS;
        this.items.splice(0, n);
        for (const b of batch) this.backlog -= b.bytes;
        this.retireIfDone(seg);
      }
    } finally {
      this.consuming = false;
    }
    if (this.items.length === 0) for (const r of this.settled.splice(0)) r();
  }

  /** Appends the items that the segment's progress has not passed, and moves the progress, in one transaction. */
  private async commitBatch(segment: string, batch: { value: T; end: number }[]): Promise<void> {
    await this.meta.relaxedTransaction(async (tx) => {
      const done = await lockSpoolProgress(tx, this.meta.dialect, segment);
      const fresh = batch.filter((b) => b.end > done);
      if (fresh.length === 0) return;
      await this.opts.commit(tx, fresh.map((b) => b.value));
      await setSpoolProgress(tx, segment, fresh[fresh.length - 1].end);
    });
  }

  /** A closed segment whose records are all in the chain goes, file first (a row without its file is tidied later). */
  private retireIfDone(seg: Segment): void {
    if (!this.closing.has(seg) || this.items.some((i) => i.segment === seg)) return;
    this.closing.delete(seg);
    void (async () => {
      await seg.fh.close().catch(() => undefined);
      await unlink(seg.file).catch(() => undefined);
      await forgetSpoolSegment(this.meta.db, seg.name).catch(() => undefined);
    })();
  }

  /**
   * Takes over the files of processes on this machine that are gone: appends what their progress has not
   * passed, then removes them. Two processes adopting one file append it once (the progress row is locked).
   */
  async adopt(): Promise<number> {
    let adopted = 0;
    let names: string[];
    try {
      names = await readdir(this.opts.dir);
    } catch {
      return 0;
    }
    const prefix = `${this.opts.stream}.${this.me.host}.`;
    for (const name of names) {
      if (!name.startsWith(prefix) || !name.endsWith('.jsonl')) continue;
      const [, , pid, start] = name.split('.');
      if (alive(Number(pid), start)) continue;
      try {
        adopted += await this.adoptFile(name);
      } catch (e) {
        this.opts.log?.warn({ err: e, file: name }, 'audit spool file of a stopped process not taken over yet; will retry');
      }
    }
    // Rows of this machine's files that are gone (removed right before their row was).
    try {
      const present = new Set(await readdir(this.opts.dir));
      for (const s of await spoolSegments(this.meta.db, prefix)) {
        const [, , pid, start] = s.split('.');
        if (!present.has(s) && !alive(Number(pid), start)) await forgetSpoolSegment(this.meta.db, s);
      }
    } catch { /* tidied on a later pass */ }
    return adopted;
  }

  private async adoptFile(name: string): Promise<number> {
    const file = path.join(this.opts.dir, name);
    const text = await readFile(file);
    const lines: { value: T; end: number }[] = [];
    let at = 0;
    for (;;) {
      const nl = text.indexOf(10, at);
      // A line without its newline was never acknowledged: its write did not finish.
      if (nl < 0) break;
      try {
        lines.push({ value: JSON.parse(text.subarray(at, nl).toString('utf8')) as T, end: nl + 1 });
      } catch {
        this.opts.log?.warn({ file: name, offset: at }, 'unreadable line in an audit spool file skipped');
      }
      at = nl + 1;
    }
    const step = this.opts.batch || lines.length || 1;
    for (let i = 0; i < lines.length; i += step) await this.commitBatch(name, lines.slice(i, i + step));
    await unlink(file).catch(() => undefined);
    await forgetSpoolSegment(this.meta.db, name).catch(() => undefined);
    if (lines.length > 0) this.opts.log?.info({ file: name, records: lines.length }, 'audit spool of a stopped process taken over');
    return lines.length;
  }

  /** Resolves once everything written so far is in the chain, or after `timeoutMs`; tells which. */
  async settle(timeoutMs = 5000): Promise<boolean> {
    while (this.writing || this.writeQueued || this.waiting.length > 0) await new Promise((r) => setImmediate(r));
    if (this.items.length === 0) return true;
    if (this.consumeTimer && !this.failing) {
      clearTimeout(this.consumeTimer);
      this.consumeTimer = undefined;
      void this.consume();
    }
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      new Promise<boolean>((r) => this.settled.push(() => r(true))),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(false), timeoutMs); }),
    ]);
    clearTimeout(timer);
    return done;
  }

  /**
   * Stops taking records, and moves what is left into the chain within `timeoutMs`. What the database does
   * not take stays in the file, for the next process on this machine.
   */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    const done = await this.settle(timeoutMs);
    this.closed = true;
    clearInterval(this.adoptTimer);
    clearTimeout(this.consumeTimer);
    const segs = [...this.closing, ...(this.current ? [this.current] : [])];
    for (const seg of segs) {
      await seg.fh.close().catch(() => undefined);
      if (done) {
        await unlink(seg.file).catch(() => undefined);
        await forgetSpoolSegment(this.meta.db, seg.name).catch(() => undefined);
      }
    }
    if (!done) this.opts.log?.warn({ waiting: this.items.length, stream: this.opts.stream }, 'audit records left in the spool for the next start: the database did not take them');
  }
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9-]/g, '-') || 'host';

/** The process's start time in clock ticks since boot (Linux), so that a reused pid is not taken for the writer. */
function processStart(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '0';
  } catch {
    return '0';
  }
}

function alive(pid: number, start: string | undefined): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return start === undefined || start === '0' || processStart(pid) === '0' || processStart(pid) === start;
}
