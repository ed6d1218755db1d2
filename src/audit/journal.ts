// The journal: every audited action becomes a record in a hash chain (audit_log). Changes write their
// records inside their own transaction (`write`), so there is no change without its record; actions that
// change nothing (pulls, logins, denials) are batched into shared transactions (`record`) that commit
// before the caller answers. Events are not written here: changes append them to the outbox
// (events/outbox.ts) in the same transaction themselves, so audit/ and events/ do not depend on each other.
import { createHash } from 'node:crypto';
import type { MetadataStore, Tx } from '../db/database.js';
import { appendToChain, type AuditRecordRow, type ChainHead } from '../db/audit-log.js';
import type { RequestContext } from '../lib/request-context.js';

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

/** More writes for the transaction a batch of records commits in (e.g. a pull's outbox event). */
export type Alongside = (tx: Tx) => Promise<unknown>;

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

const clip = (s: string | undefined, n: number) => (s ?? '').slice(0, n);

export class Journal {
  private queue: { ctx: RequestContext; entries: JournalEntry[]; alongside?: Alongside; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;

  constructor(private readonly meta: MetadataStore) {}

  /** Writes the records inside the caller's write transaction. */
  async write(tx: Tx, ctx: RequestContext, entries: JournalEntry[]): Promise<void> {
    await this.writeMany(tx, entries.map((e) => ({ ctx, entry: e })));
  }

  /** Appends records (each with its own context) to the chain, with multi-row inserts. */
  private async writeMany(tx: Tx, items: { ctx: RequestContext; entry: JournalEntry }[]): Promise<void> {
    if (items.length === 0) return;
    // The head is locked until the transaction ends: concurrent writers (other processes too) queue there.
    await appendToChain(tx, this.meta.dialect, (head) => this.rowsAfter(head, items));
  }

  /** The rows that continue the chain from `head` (undefined: an empty chain). */
  private rowsAfter(head: ChainHead | undefined, items: { ctx: RequestContext; entry: JournalEntry }[]): AuditRecordRow[] {
    let seq = head ? head.seq : 0;
    let prev = head?.hash ?? GENESIS;
    const now = Date.now();
    const rows: AuditRecordRow[] = [];
    for (const { ctx, entry: e } of items) {
      seq++;
      const r = {
        seq, at: now, actor: clip(ctx.actor, 256), actorSource: clip(ctx.actorSource, 32), address: clip(ctx.address, 100), userAgent: clip(ctx.userAgent, 300),
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

  /**
   * Records actions that change nothing (pulls, logins, denials). Concurrent callers share one transaction;
   * the promise resolves once it committed, so an answered request always has its record (a process crash
   * cannot lose it; these commits skip the fsync, so a power failure could lose the last moments' reads).
   * `alongside` runs in that same transaction after the records (a pull's outbox event commits with its record).
   */
  record(ctx: RequestContext, entries: JournalEntry[], alongside?: Alongside): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ctx, entries, alongside, resolve, reject });
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
        await this.meta.relaxedTransaction(async (tx) => {
          await this.writeMany(tx, batch.flatMap((b) => b.entries.map((entry) => ({ ctx: b.ctx, entry }))));
          for (const b of batch) if (b.alongside) await b.alongside(tx);
        });
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
