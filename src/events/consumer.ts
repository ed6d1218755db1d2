// The consumer contract: a named reader of the outbox with a durable cursor (table cursors, one per name)
// and a lease (table leases), run by ConsumerRunner (consumer-runner.ts). A consumer sees every event of
// the types it wants once, in outbox order, batch by batch:
//  - 'transaction' consumers write to the database: their handler runs inside the write transaction that
//    moves the cursor, so its writes and the cursor commit together (or neither does) — exactly once as far
//    as the database is concerned. Webhook fan-out is one (its writes are the deliveries).
//  - 'after' consumers act elsewhere (a SIEM, a queue): the cursor moves after the handler returned, so a
//    crash in between hands the batch over again — at least once; such handlers must tolerate repeats
//    (events carry stable ids).
// A handler that throws leaves the cursor where it was; the batch is offered again on the next step.
import type { Tx } from '../db/database.js';
import { EVENT_TYPES, typesOf, type BerthEvent, type EventFamily, type EventType } from './event.js';

/** One event as a consumer receives it. */
export interface ConsumedEvent {
  /** position in the outbox: ascending in commit order, what the cursor counts */
  seq: number;
  /** the repository it concerns (filters), or null */
  repository: string | null;
  event: BerthEvent;
}

/** What a consumer wants: types and whole families (either or both; neither means everything). */
export interface EventSelector { types?: readonly EventType[]; families?: readonly (EventFamily | 'ping')[] }

interface ConsumerBase {
  /** unique and stable: it names the cursor and the lease; renaming a consumer starts it over */
  readonly name: string;
  readonly wants: EventSelector;
  /** events per handler call (default 500) */
  readonly batchSize?: number;
  /**
   * Where a consumer seen for the first time starts: 'beginning' (every event still in the outbox, the
   * default) or 'now' (only events written from then on).
   */
  readonly startAt?: 'beginning' | 'now';
}

export interface TransactionalConsumer extends ConsumerBase {
  readonly mode: 'transaction';
  /** Runs inside the transaction that moves the cursor past these events; write through `tx` only. */
  handle(tx: Tx, events: ConsumedEvent[]): Promise<void>;
}

export interface ExternalConsumer extends ConsumerBase {
  readonly mode: 'after';
  /** Runs outside any transaction; the cursor moves once it returns. */
  handle(events: ConsumedEvent[]): Promise<void>;
}

export type EventConsumer = TransactionalConsumer | ExternalConsumer;

/** The event types a selector names (every type when it names none). */
export function selectedTypes(s: EventSelector): EventType[] {
  if (!s.types && !s.families) return [...EVENT_TYPES];
  const wanted = new Set<EventType>([...(s.types ?? []), ...typesOf(s.families ?? [])]);
  return EVENT_TYPES.filter((t) => wanted.has(t));
}
