// The journal: every audited action becomes a record in a hash chain (audit_log). Changes write their
// records inside their own transaction (`write`), so there is no change without its record. Actions that
// change nothing (pulls, logins, denials) are `record`ed: in a server, into the audit spool (spool.ts), a
// local file the records leave for the chain right after, so that a locked or read-only database holds no
// pull up; elsewhere (the CLI), into shared transactions that commit before the caller answers. Events are
// not written here: changes append them to the outbox (events/outbox.ts) in the same transaction
// themselves, and the events that go with records are handed to `appendEvents`, so audit/ and events/ do
// not depend on each other.
import { createHash } from 'node:crypto';
import type { MetadataStore, Tx } from '../db/database.js';
import { appendToChain, type AuditRecordRow, type ChainHead } from '../db/audit-log.js';
import { BerthError } from '../errors/berth-error.js';
import { infrastructureError } from '../errors/infrastructure.js';
import type { RequestContext } from '../lib/request-context.js';
import { Spool, SpoolUnavailableError } from './spool.js';

export { SYSTEM_CONTEXT, type RequestContext } from '../lib/request-context.js';

export type Outcome = 'success' | 'failure' | 'denied';

export interface JournalEntry {
  /** audit action, e.g. manifest.push, user.create, auth.login */
  action: string;
  /** what it was done to, e.g. repository:acme/app:v1, user:alice */
  resource: string;
  outcome?: Outcome;
  detail?: Record<string, unknown>;
}

/** One record as it waits (in the spool or in memory) for the chain: when, by whom, what, and its events. */
export interface PendingRecord { at: number; ctx: RequestContext; entries: JournalEntry[]; events?: unknown[] }

export interface JournalOptions {
  /** where records of actions that change nothing wait for the database (servers; not the CLI) */
  spool?: { dir: string; maxBytes: number };
  /**
   * true (the default): an action whose record can be written neither to the spool nor to the database
   * is refused with AUDIT_UNAVAILABLE. false: it goes ahead without its record, which is counted and logged.
   */
  failClosed?: boolean;
  /** writes the events that go with records, in their transaction (main.ts: the outbox), all of a batch at once */
  appendEvents?: (tx: Tx, groups: { ctx: RequestContext; events: unknown[]; at: number }[]) => Promise<unknown>;
  log?: { warn(o: object, msg: string): void; info(o: object, msg: string): void; error(o: object, msg: string): void };
}

export interface AuditRecord {
  seq: number; at: number; actor: string; actorSource: string; address: string; userAgent: string; action: string;
  resource: string; outcome: Outcome; requestId: string; detail: Record<string, unknown> | null; prevHash: string; hash: string;
}

export const GENESIS = '0'.repeat(64);

/** The hash of a record: SHA-256 over a canonical JSON array of every field and the previous hash. */
export function recordHash(r: Omit<AuditRecord, 'hash'>): string {
  const canonical = JSON.stringify([r.seq, r.at, r.actor, r.actorSource, r.address, r.userAgent, r.action, r.resource, r.outcome, r.requestId, r.detail, r.prevHash]);
  return createHash('sha256').update(canonical).digest('hex');
}

// NUL becomes U+FFFD: PostgreSQL's text cannot hold it, and one such record (a login attempt whose user
// name has one) would otherwise stop every record after it from reaching the chain.
const clip = (s: string | undefined, n: number) => (s ?? '').slice(0, n).replace(/\0/g, '\uFFFD');

export class Journal {
  private queue: { item: PendingRecord; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;
  private spool?: Spool<PendingRecord>;
  /** records not written (audit.failClosed: false), since start */
  dropped = 0;

  constructor(private readonly meta: MetadataStore, private readonly opts: JournalOptions = {}) {}

  /** Opens the spool (taking over what stopped processes left in it); without one, records go straight to the database. */
  async open(): Promise<void> {
    if (!this.opts.spool || this.spool) return;
    const spool = new Spool<PendingRecord>(this.meta, {
      dir: this.opts.spool.dir, stream: 'records', maxBytes: this.opts.spool.maxBytes, batch: 1000, log: this.opts.log,
      commit: (tx, items) => this.commitPending(tx, items),
    });
    await spool.open();
    this.spool = spool;
  }

  /** Another spool in the journal's folder, for records gathered before they are written (pull summaries). */
  async openSpool<T>(stream: string, everyMs: number, commit: (tx: Tx, items: T[]) => Promise<void>): Promise<Spool<T> | undefined> {
    if (!this.opts.spool) return undefined;
    const spool = new Spool<T>(this.meta, { dir: this.opts.spool.dir, stream, maxBytes: this.opts.spool.maxBytes, everyMs, log: this.opts.log, commit });
    await spool.open();
    return spool;
  }

  /** Resolves once every record taken so far is in the chain (or after timeoutMs): readers of the log call it first. */
  async settle(timeoutMs = 2000): Promise<boolean> {
    return this.spool ? this.spool.settle(timeoutMs) : true;
  }

  /** Moves what is left into the chain (what the database will not take stays in the spool for the next start). */
  async close(timeoutMs = 5000): Promise<void> {
    await this.spool?.close(timeoutMs);
    this.spool = undefined;
  }

  get spooledBytes(): number { return this.spool?.pendingBytes ?? 0; }

  get failClosed(): boolean { return this.opts.failClosed ?? true; }

  /** Writes the records inside the caller's write transaction. */
  async write(tx: Tx, ctx: RequestContext, entries: JournalEntry[]): Promise<void> {
    await this.writeMany(tx, entries.map((e) => ({ ctx, entry: e, at: Date.now() })));
  }

  /** Appends records (each with its own context and time) to the chain, with multi-row inserts. */
  async writeMany(tx: Tx, items: { ctx: RequestContext; entry: JournalEntry; at: number }[]): Promise<void> {
    if (items.length === 0) return;
    // The head is locked until the transaction ends: concurrent writers (other processes too) queue there.
    await appendToChain(tx, this.meta.dialect, (head) => this.rowsAfter(head, items));
  }

  /** The rows that continue the chain from `head` (undefined: an empty chain). */
  private rowsAfter(head: ChainHead | undefined, items: { ctx: RequestContext; entry: JournalEntry; at: number }[]): AuditRecordRow[] {
    let seq = head ? head.seq : 0;
    let prev = head?.hash ?? GENESIS;
    const rows: AuditRecordRow[] = [];
    for (const { ctx, entry: e, at } of items) {
      seq++;
      const r = {
        seq, at, actor: clip(ctx.actor, 256), actorSource: clip(ctx.actorSource, 32), address: clip(ctx.address, 100), userAgent: clip(ctx.userAgent, 300),
        action: e.action, resource: clip(e.resource, 1024), outcome: e.outcome ?? 'success', requestId: clip(ctx.requestId, 64),
        // Round-tripped so that the hash covers exactly what is stored.
        detail: e.detail ? (JSON.parse(JSON.stringify(e.detail)) as Record<string, unknown>) : null, prevHash: prev,
      };
      const hash = recordHash(r);
      rows.push({
        seq, at: r.at, actor: r.actor, actor_source: r.actorSource, address: r.address, user_agent: r.userAgent, action: r.action,
        resource: r.resource, outcome: r.outcome, request_id: r.requestId, detail: r.detail === null ? null : JSON.stringify(r.detail), prev_hash: prev, hash,
      });
      prev = hash;
    }
    return rows;
  }

  /** Pending records into the chain, with their events, in the caller's transaction. */
  private async commitPending(tx: Tx, items: PendingRecord[]): Promise<void> {
    await this.writeMany(tx, items.flatMap((b) => b.entries.map((entry) => ({ ctx: b.ctx, entry, at: b.at }))));
    const groups = items.filter((b) => b.events?.length).map((b) => ({ ctx: b.ctx, events: b.events!, at: b.at }));
    if (groups.length > 0 && this.opts.appendEvents) await this.opts.appendEvents(tx, groups);
  }

  /**
   * Records actions that change nothing (pulls, logins, denials), with the events that go with them. The
   * promise resolves once the record is safe from a process crash: written to the spool, or (without a
   * spool, or when the spool cannot take it) committed to the chain. When neither can take it, it rejects
   * with AUDIT_UNAVAILABLE, unless audit.failClosed is off (then the action goes ahead unrecorded).
   */
  async record(ctx: RequestContext, entries: JournalEntry[], events?: unknown[]): Promise<void> {
    const item: PendingRecord = { at: Date.now(), ctx, entries, ...(events?.length ? { events } : {}) };
    let spoolError: SpoolUnavailableError | undefined;
    if (this.spool) {
      try {
        return await this.spool.append(item);
      } catch (e) {
        if (!(e instanceof SpoolUnavailableError)) throw e;
        spoolError = e;
      }
    }
    try {
      await this.direct(item);
    } catch (e) {
      const refusal = this.unrecorded(e, spoolError, entries);
      if (refusal) throw refusal;
    }
  }

  /** What to do with a record nobody could take: the error to answer with (fail closed), or undefined after counting and logging it (fail open). */
  private unrecorded(e: unknown, spoolError: SpoolUnavailableError | undefined, entries: JournalEntry[]): BerthError | undefined {
    const infra = infrastructureError(e);
    const cause = [spoolError ? `spool: ${spoolError.reason}` : undefined, `database: ${infra ? String((infra.detail as { cause?: unknown } | undefined)?.cause ?? infra.message) : (e as Error).message}`].filter(Boolean).join('; ');
    if (!this.failClosed) {
      this.dropped++;
      this.opts.log?.error({ err: e, actions: entries.map((x) => x.action), cause }, 'audit record not written (audit.failClosed is off: answered without it)');
      return undefined;
    }
    return new BerthError('AUDIT_UNAVAILABLE', { retryAfterSeconds: 5, cause: e, detail: { cause } });
  }

  private direct(item: PendingRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        // SQLite answers synchronously, so a flush started at once would run to its end before the event
        // loop reads another request: one record per transaction. Waiting one turn lets a batch gather.
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, 1000);
      try {
        await this.meta.relaxedTransaction((tx) => this.commitPending(tx, batch.map((b) => b.item)));
        for (const b of batch) b.resolve();
      } catch (e) {
        for (const b of batch) b.reject(e);
      }
      await new Promise((r) => setImmediate(r));
    }
    this.flushing = false;
  }
}

export function toAuditRecord(r: {
  seq: number; at: number; actor: string; actor_source: string; address: string; user_agent: string; action: string;
  resource: string; outcome: string; request_id: string; detail: string | null; prev_hash: string; hash: string;
}): AuditRecord {
  return {
    seq: Number(r.seq), at: Number(r.at), actor: r.actor, actorSource: r.actor_source, address: r.address, userAgent: r.user_agent,
    action: r.action, resource: r.resource, outcome: r.outcome as Outcome, requestId: r.request_id,
    detail: r.detail === null ? null : JSON.parse(r.detail), prevHash: r.prev_hash, hash: r.hash,
  };
}
