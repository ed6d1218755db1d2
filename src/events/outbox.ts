// The outbox: events are written inside the transaction of the change they describe (append), so there is
// no change without its event and no event of a change that rolled back. Consumers (consumer-runner.ts)
// read them in order later, each behind its own cursor; nothing here waits for them.
import { randomUUID } from 'node:crypto';
import type { Dialect, MetadataStore, Tx } from '../db/database.js';
import { consumerCursors } from '../db/cursors.js';
import { insertEvents, pruneEvents, type NewEventRow } from '../db/events.js';
import type { RequestContext } from '../lib/request-context.js';
import type { BerthEvent, EventTarget, EventType, NewEvent } from './event.js';

/**
 * Types written only while someone wants them (Outbox.wantsEvent): busy pull traffic would otherwise fill
 * the outbox with events nobody reads.
 */
export const ON_DEMAND_TYPES: ReadonlySet<EventType> = new Set<EventType>(['manifest.pulled']);

/** Where an appended event sits in the outbox: its position (consumers' cursors count these) and its id. */
export interface Appended { seq: number; id: string }

export class Outbox {
  /** Names this process in every event's source (stable for its lifetime). */
  readonly instanceID = randomUUID();
  private readonly listeners = new Set<() => void>();

  /** `dialect`: the store's (event ids are handed out in commit order differently on each). */
  constructor(private readonly opts: { publicAddr?: string; dialect: Dialect }) {}

  /**
   * Whether anyone wants events of an on-demand type now (pull events: main.ts asks whether a webhook
   * endpoint subscribes to pulls). Other types are always written.
   */
  wantsEvent: (type: EventType) => boolean = () => true;

  /** Writes the event in the caller's transaction; null when it is an on-demand type nobody wants now. */
  async append(tx: Tx, ctx: RequestContext, event: NewEvent): Promise<Appended | null> {
    const [appended] = await this.appendAll(tx, ctx, [event]);
    return appended ?? null;
  }

  /** Writes the events, in this order, in the caller's transaction (with multi-row inserts); returns those written. */
  appendAll(tx: Tx, ctx: RequestContext, events: NewEvent[]): Promise<Appended[]> {
    return this.appendGroups(tx, [{ ctx, events, at: Date.now() }]);
  }

  /** Events of several requests (each with its context and time), in this order, in one multi-row insert. */
  async appendGroups(tx: Tx, groups: { ctx: RequestContext; events: NewEvent[]; at: number }[]): Promise<Appended[]> {
    const rows: NewEventRow[] = [];
    for (const g of groups) for (const e of g.events) if (!ON_DEMAND_TYPES.has(e.type) || this.wantsEvent(e.type)) rows.push(this.row(g.ctx, e, g.at));
    if (rows.length === 0) return [];
    const seqs = await insertEvents(tx, rows, this.opts.dialect);
    for (const l of this.listeners) l();
    return seqs.map((seq, i) => ({ seq, id: rows[i].eventId }));
  }

  /**
   * Calls `listener` after every append (the delivery loop wakes up sooner than its poll; the caller's
   * transaction commits right after). Returns the function that stops it.
   */
  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  private row(ctx: RequestContext, ev: NewEvent, now: number): NewEventRow {
    // The payload format webhooks receive (webhook-payload.ts renders it): field order included.
    const event: BerthEvent = {
      id: randomUUID(), type: ev.type, timestamp: new Date(now).toISOString(),
      actor: { name: ctx.actor, source: ctx.actorSource },
      request: { id: ctx.requestId, addr: ctx.address, host: ctx.host ?? '', method: ctx.method ?? '', useragent: ctx.userAgent },
      ...(ev.target ? { target: this.withUrl(ev.target) } : {}),
      source: { addr: this.opts.publicAddr ?? '', instanceID: this.instanceID },
      ...(ev.data ? { data: ev.data } : {}),
    };
    return { eventId: event.id, type: event.type, repository: ev.repository ?? ev.target?.repository ?? null, payload: JSON.stringify(event), createdAt: now };
  }

  private withUrl(t: EventTarget): EventTarget {
    if (t.url || !this.opts.publicAddr || !t.digest) return t;
    const kind = t.mediaType && /manifest|index|list/.test(t.mediaType) ? 'manifests' : 'blobs';
    return { ...t, url: `${this.opts.publicAddr.replace(/\/+$/, '')}/v2/${t.repository}/${kind}/${t.digest}` };
  }
}

/**
 * Deletes events every consumer has passed (each consumer's cursor, not only the webhook fan-out's) once
 * they are `keepMs` old, except those a pending webhook delivery still needs. No consumer cursor yet: nothing goes.
 */
export async function pruneOutbox(meta: MetadataStore, keepMs = 86_400_000, now = Date.now()): Promise<number> {
  return meta.relaxedTransaction(async (tx) => {
    const cursors = [...(await consumerCursors(tx)).values()];
    if (cursors.length === 0) return 0;
    return pruneEvents(tx, Math.min(...cursors), now - keepMs);
  });
}
