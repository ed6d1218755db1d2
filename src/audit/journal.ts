// The journal: every audited action becomes a record in a hash chain (audit_log), and what others may want
// to know about also becomes an event in the outbox (events). Changes write both inside their own
// transaction (`write`), so there is no change without its record; actions that change nothing (pulls,
// logins, denials) are batched into shared transactions (`record`) that commit before the caller answers.
import { createHash, randomUUID } from 'node:crypto';
import type { MetadataStore, Tx } from '../db/database.js';
import type { BerthEvent, EventTarget, EventType } from '../events/event.js';

export type Outcome = 'success' | 'failure' | 'denied';

/** Who did it, from where, in which request. */
export interface RequestContext {
  actor: string;
  /** local, ldap, token, robot, anonymous, cli, system */
  actorSource: string;
  address: string;
  userAgent: string;
  requestId: string;
  host?: string;
  method?: string;
}

export const SYSTEM_CONTEXT: RequestContext = { actor: 'berth', actorSource: 'system', address: '', userAgent: '', requestId: '' };

export interface JournalEntry {
  /** audit action, e.g. manifest.push, user.create, auth.login */
  action: string;
  /** what it was done to, e.g. repository:acme/app:v1, user:alice */
  resource: string;
  outcome?: Outcome;
  detail?: Record<string, unknown>;
  /** also an event for webhooks */
  event?: { type: EventType; repository?: string; target?: EventTarget; data?: Record<string, unknown> };
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

const clip = (s: string | undefined, n: number) => (s ?? '').slice(0, n);

export class Journal {
  private queue: { ctx: RequestContext; entries: JournalEntry[]; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;
  readonly instanceID = randomUUID();

  constructor(private readonly meta: MetadataStore, private readonly opts: { publicAddr?: string } = {}) {}

  /** Writes the records (and events) inside the caller's write transaction. */
  async write(tx: Tx, ctx: RequestContext, entries: JournalEntry[]): Promise<void> {
    await this.writeMany(tx, entries.map((e) => ({ ctx, entry: e })));
  }

  /** Appends records (each with its own context) to the chain, with multi-row inserts. */
  private async writeMany(tx: Tx, items: { ctx: RequestContext; entry: JournalEntry }[]): Promise<void> {
    if (items.length === 0) return;
    const head = await tx.selectFrom('audit_log').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    let seq = head ? Number(head.seq) : 0;
    let prev = head?.hash ?? GENESIS;
    const now = Date.now();
    const rows = [];
    const events = [];
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
      if (e.event && this.wanted(e.event.type)) events.push(this.event(ctx, e.event, now));
    }
    for (let i = 0; i < rows.length; i += 500) await tx.insertInto('audit_log').values(rows.slice(i, i + 500)).execute();
    for (let i = 0; i < events.length; i += 500) await tx.insertInto('events').values(events.slice(i, i + 500)).execute();
    if (events.length > 0) this.onEvent?.();
  }

  /**
   * Whether an event of this type can interest anyone now. Pull events are only kept while an endpoint
   * subscribes to pulls (main.ts sets this from the endpoints), so busy pull traffic does not fill the outbox.
   */
  wantsEvent?: (type: EventType) => boolean;

  private wanted(type: EventType): boolean {
    return type !== 'manifest.pulled' || (this.wantsEvent?.(type) ?? true);
  }

  private event(ctx: RequestContext, ev: NonNullable<JournalEntry['event']>, now: number) {
    const event: BerthEvent = {
      id: randomUUID(), type: ev.type, timestamp: new Date(now).toISOString(),
      actor: { name: ctx.actor, source: ctx.actorSource },
      request: { id: ctx.requestId, addr: ctx.address, host: ctx.host ?? '', method: ctx.method ?? '', useragent: ctx.userAgent },
      ...(ev.target ? { target: this.withUrl(ev.target) } : {}),
      source: { addr: this.opts.publicAddr ?? '', instanceID: this.instanceID },
      ...(ev.data ? { data: ev.data } : {}),
    };
    return { event_id: event.id, type: event.type, repository: ev.repository ?? ev.target?.repository ?? null, payload: JSON.stringify(event), created_at: now };
  }

  /** An event without an audit record (the caller records the action itself); returns its sequence number. */
  emitOnly(tx: Tx, ctx: RequestContext, ev: NonNullable<JournalEntry['event']>): Promise<number> {
    return this.emit(tx, ctx, ev, Date.now());
  }

  private async emit(tx: Tx, ctx: RequestContext, ev: NonNullable<JournalEntry['event']>, now: number): Promise<number> {
    const row = await tx.insertInto('events').values(this.event(ctx, ev, now)).returning('id').executeTakeFirstOrThrow();
    this.onEvent?.();
    return Number(row.id);
  }

  /** Called after an event was written (the delivery worker wakes up sooner than its poll). */
  onEvent?: () => void;

  private withUrl(t: EventTarget): EventTarget {
    if (t.url || !this.opts.publicAddr || !t.digest) return t;
    const kind = t.mediaType && /manifest|index|list/.test(t.mediaType) ? 'manifests' : 'blobs';
    return { ...t, url: `${this.opts.publicAddr.replace(/\/+$/, '')}/v2/${t.repository}/${kind}/${t.digest}` };
  }

  /**
   * Records actions that change nothing (pulls, logins, denials). Concurrent callers share one transaction;
   * the promise resolves once it committed, so an answered request always has its record (a process crash
   * cannot lose it; these commits skip the fsync, so a power failure could lose the last moments' reads).
   */
  record(ctx: RequestContext, entries: JournalEntry[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ctx, entries, resolve, reject });
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
        await this.meta.relaxedTransaction((tx) => this.writeMany(tx, batch.flatMap((b) => b.entries.map((entry) => ({ ctx: b.ctx, entry })))));
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
