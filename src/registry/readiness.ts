// Readiness (/readyz): this process can serve when the database and the blob store answer reads and take
// writes. Reads are checked on every call (one indexed row, one stat). Writes are tried for real (a 1 MiB
// file written, synced and removed: a disk with a few pages left, which a failed upload gives back, takes
// a tiny file but no layer; one relaxed row update) while a request's write failed recently on what
// Berth runs on (a full disk, a read-only filesystem, a database locked past its timeout), until a probe
// succeeds, and otherwise every STALE_MS, so that a fault only other processes met is found too. The probe
// of the shared disk and database decides, never a state one process remembers; probes are rate-limited
// and never take longer than TIMEOUT_MS to answer (a slow one goes on in the background).
import type { MetadataStore } from '../db/database.js';
import { probeWrite } from '../db/cursors.js';
import { infrastructureError, isDiskFull } from '../errors/infrastructure.js';
import type { StorageDriver } from '../storage/driver.js';
import { PROBES_PREFIX, probePath } from './paths.js';

export type ComponentState = 'ok' | 'full' | 'not writable' | 'not readable' | 'locked by another process' | 'not answering';
export type Component = 'database' | 'storage';

export interface ReadinessReport {
  ready: boolean;
  /** what is wrong, for people: "storage full", "database not writable" */
  causes: string[];
  checks: Record<Component, ComponentState>;
}

export interface ReadinessOptions {
  /** one cheap read of the database (throws when it cannot be made) */
  readDatabase(): Promise<void>;
  /** told when the write probe finds the storage full (upload sessions can give space back) */
  onStorageFull?(): void;
  /** names this process's probe file */
  processId?: string;
  staleMs?: number;
  retryMs?: number;
  timeoutMs?: number;
}

const PROBE_BYTES = Buffer.alloc(1024 * 1024, 0x2e);
const STALE_MS = 30_000;
const RETRY_MS = 1_000;
const TIMEOUT_MS = 2_000;
const TIMED_OUT = Symbol('timed out');

export class Readiness {
  private faultAt = 0;
  private probedAt = 0;
  private probing?: { database: Promise<ComponentState>; storage: Promise<ComponentState> };
  private writes: Record<Component, ComponentState> = { database: 'ok', storage: 'ok' };
  private swept = false;
  private readonly staleMs: number;
  private readonly retryMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly meta: MetadataStore, private readonly store: StorageDriver, private readonly opts: ReadinessOptions) {
    this.staleMs = opts.staleMs ?? STALE_MS;
    this.retryMs = opts.retryMs ?? RETRY_MS;
    this.timeoutMs = opts.timeoutMs ?? TIMEOUT_MS;
  }

  /** A request's write failed on the disk or the database: the next check tries writes. */
  noteFault(): void {
    this.faultAt = Date.now();
  }

  async check(): Promise<ReadinessReport> {
    const [dbRead, storeRead] = await Promise.all([
      this.within(this.opts.readDatabase().then(() => 'ok' as const, () => 'not readable' as const)),
      this.within(this.store.stat(probePath('read')).then(() => 'ok' as const, () => 'not readable' as const)),
    ]);
    const writes = await this.probeWrites();
    const checks: Record<Component, ComponentState> = {
      database: dbRead === TIMED_OUT ? 'not answering' : dbRead !== 'ok' ? dbRead : writes.database,
      storage: storeRead === TIMED_OUT ? 'not answering' : storeRead !== 'ok' ? storeRead : writes.storage,
    };
    const causes = (Object.keys(checks) as Component[]).filter((c) => checks[c] !== 'ok').map((c) => `${c} ${checks[c]}`);
    return { ready: causes.length === 0, causes, checks };
  }

  /** The write states: probed again when a fault is recent, the last probe failed, or it is stale. */
  private async probeWrites(): Promise<Record<Component, ComponentState>> {
    const now = Date.now();
    const failing = this.writes.database !== 'ok' || this.writes.storage !== 'ok';
    const due = this.faultAt >= this.probedAt || now - this.probedAt >= this.staleMs;
    if (!this.probing && (due || failing) && now - this.probedAt >= (due && !failing ? 0 : this.retryMs)) {
      this.probedAt = now;
      const probing = {
        database: this.probeDatabaseWrite().then((s) => (this.writes.database = s)),
        storage: this.probeStorageWrite().then((s) => (this.writes.storage = s)),
      };
      this.probing = probing;
      void Promise.all([probing.database, probing.storage]).finally(() => { if (this.probing === probing) this.probing = undefined; });
    }
    if (!this.probing) return { ...this.writes };
    const [database, storage] = await Promise.all([this.within(this.probing.database), this.within(this.probing.storage)]);
    return {
      database: database === TIMED_OUT ? 'not answering' : database,
      storage: storage === TIMED_OUT ? 'not answering' : storage,
    };
  }

  private async probeDatabaseWrite(): Promise<ComponentState> {
    try {
      await this.meta.relaxed((db) => probeWrite(db, Date.now()));
      return 'ok';
    } catch (e) {
      const infra = infrastructureError(e);
      if (infra?.code === 'STORAGE_FULL') return 'full';
      if (infra?.code === 'DATABASE_UNAVAILABLE' && (infra.detail as { cause?: string }).cause === 'locked by another process') return 'locked by another process';
      return 'not writable';
    }
  }

  private async probeStorageWrite(): Promise<ComponentState> {
    const path = probePath(this.opts.processId ?? String(process.pid));
    if (!this.swept) {
      // Probe files a killed process left: a probe takes milliseconds, so one a minute old is nobody's.
      this.swept = true;
      const before = Date.now() - 60_000;
      try {
        for await (const f of this.store.list(PROBES_PREFIX)) if (f.modifiedAt.getTime() < before) await this.store.delete(f.path);
      } catch { /* tried again by the next process */ }
    }
    try {
      const w = await this.store.write(path);
      try {
        await new Promise<void>((resolve, reject) => {
          w.once('error', reject);
          w.end(PROBE_BYTES, (err?: Error | null) => (err ? reject(err) : resolve()));
        });
        await w.commit({ durable: true });
      } catch (e) {
        await w.abort().catch(() => undefined);
        throw e;
      }
      await this.store.delete(path);
      return 'ok';
    } catch (e) {
      await this.store.delete(path).catch(() => undefined);
      if (isDiskFull(e)) {
        this.opts.onStorageFull?.();
        return 'full';
      }
      return 'not writable';
    }
  }

  /** p, or TIMED_OUT when it takes longer than the timeout (it goes on). */
  private within<T>(p: Promise<T>): Promise<T | typeof TIMED_OUT> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<typeof TIMED_OUT>((resolve) => { timer = setTimeout(() => resolve(TIMED_OUT), this.timeoutMs); });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }
}
