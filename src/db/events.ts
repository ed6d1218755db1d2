// The outbox table (events): appended to inside the transaction of the change an event describes, read
// in id order by consumers, pruned once every consumer has passed an event.
import { sql } from 'kysely';
import type { Tx } from './database.js';
import type { Dialect } from './migrations/index.js';

export interface EventRow { id: number; eventId: string; type: string; repository: string | null; payload: string; createdAt: number }

export interface NewEventRow { eventId: string; type: string; repository: string | null; payload: string; createdAt: number }

/** Key of the transaction lock that makes PostgreSQL hand out event ids in commit order. */
const EVENTS_LOCK = 0x65766e74; // "evnt"

/**
 * Inserts the rows (in order, so their ids ascend in that order); returns their ids. Consumers read by
 * id and never look back: an id must not become visible after a higher one. SQLite has one writer; on
 * PostgreSQL concurrent transactions would take ids in one order and commit in another, so appending
 * holds a lock until commit (appends come last in their transactions, so it is held briefly).
 */
export async function insertEvents(tx: Tx, rows: NewEventRow[], dialect: Dialect): Promise<number[]> {
  if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(${EVENTS_LOCK})`.execute(tx);
  const ids: number[] = [];
  for (let i = 0; i < rows.length; i += 500) {
    const values = rows.slice(i, i + 500).map((r) => ({ event_id: r.eventId, type: r.type, repository: r.repository, payload: r.payload, created_at: r.createdAt }));
    const out = await tx.insertInto('events').values(values).returning('id').execute();
    // RETURNING gives no order guarantee; the ids of one statement are consecutive, in row order.
    ids.push(...out.map((o) => Number(o.id)).sort((a, b) => a - b));
  }
  return ids;
}

/** The highest event id (0 when the outbox is empty). */
export async function lastEventId(db: Tx): Promise<number> {
  const head = await db.selectFrom('events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
  return Number(head?.id ?? 0);
}

/** Events with after < id <= upTo, of the given types (all when omitted), in id order, at most `limit`. */
export async function eventsAfter(db: Tx, after: number, opts: { upTo?: number; types?: readonly string[]; limit: number }): Promise<EventRow[]> {
  if (opts.types && opts.types.length === 0) return [];
  let q = db.selectFrom('events').selectAll().where('id', '>', after).orderBy('id').limit(opts.limit);
  if (opts.upTo !== undefined) q = q.where('id', '<=', opts.upTo);
  if (opts.types) q = q.where('type', 'in', [...opts.types]);
  return (await q.execute()).map((r) => ({
    id: Number(r.id), eventId: r.event_id, type: r.type, repository: r.repository, payload: r.payload, createdAt: Number(r.created_at),
  }));
}

/** One event's payload and id, by its position. */
export async function eventAt(db: Tx, id: number): Promise<{ eventId: string; payload: string } | undefined> {
  const r = await db.selectFrom('events').select(['event_id', 'payload']).where('id', '=', id).executeTakeFirst();
  return r && { eventId: r.event_id, payload: r.payload };
}

/**
 * Deletes events up to `upTo` (every consumer has passed them) created before `before`, except those a
 * webhook delivery still refers to (its payload is read when it is sent). Returns how many went.
 */
export async function pruneEvents(tx: Tx, upTo: number, before: number): Promise<number> {
  const res = await tx.deleteFrom('events').where('id', '<=', upTo).where('created_at', '<', before)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('webhook_deliveries as d').select('d.id').whereRef('d.event_seq', '=', 'events.id')))).executeTakeFirst();
  return Number(res.numDeletedRows);
}
