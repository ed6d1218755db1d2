// Webhook deliveries (tables webhook_deliveries, webhook_attempts): created by the fan-out and pings,
// leased, attempted and recorded by the dispatcher (jobs/webhook-dispatcher.ts), listed and redelivered
// through the API, and pruned from the history.
import type { Tx } from './database.js';

/** What fan-out needs of an enabled endpoint to decide whether an event goes to it. */
export interface FanoutEndpoint { id: number; families: string[]; repositoryPattern: string | null; fromEvent: number; org: string | null }

export async function enabledEndpoints(tx: Tx): Promise<FanoutEndpoint[]> {
  const rows = await tx.selectFrom('webhook_endpoints').leftJoin('organizations as o', 'o.id', 'webhook_endpoints.org_id')
    .select(['webhook_endpoints.id', 'webhook_endpoints.events', 'webhook_endpoints.repository_pattern', 'webhook_endpoints.from_event', 'o.name as org'])
    .where('webhook_endpoints.enabled', '=', 1).execute();
  return rows.map((r) => ({ id: Number(r.id), families: JSON.parse(r.events) as string[], repositoryPattern: r.repository_pattern, fromEvent: Number(r.from_event), org: r.org }));
}

export interface NewDelivery { endpointId: number; eventSeq: number; eventId: string }

/** Pending deliveries, sent at once; one per (endpoint, event): a repeated fan-out adds nothing. */
export async function insertDeliveries(tx: Tx, deliveries: NewDelivery[], now = Date.now()): Promise<void> {
  for (let i = 0; i < deliveries.length; i += 200) {
    const rows = deliveries.slice(i, i + 200).map((d) => ({
      endpoint_id: d.endpointId, event_seq: d.eventSeq, event_id: d.eventId, state: 'pending', attempts: 0, next_attempt_at: now, lease_until: 0, created_at: now,
    }));
    await tx.insertInto('webhook_deliveries').values(rows).onConflict((oc) => oc.columns(['endpoint_id', 'event_seq']).doNothing()).execute();
  }
}

/** One pending delivery (a ping); returns its id. */
export async function insertDelivery(tx: Tx, d: NewDelivery, now = Date.now()): Promise<number> {
  const row = await tx.insertInto('webhook_deliveries').values({
    endpoint_id: d.endpointId, event_seq: d.eventSeq, event_id: d.eventId, state: 'pending', attempts: 0, next_attempt_at: now, lease_until: 0,
    last_status: null, last_error: null, created_at: now, finished_at: null,
  }).returning('id').executeTakeFirstOrThrow();
  return Number(row.id);
}

/** Finished (delivered or dead) deliveries older than `before`, with their attempts. */
export async function pruneFinishedDeliveries(tx: Tx, before: number): Promise<void> {
  await tx.deleteFrom('webhook_deliveries').where('state', 'in', ['delivered', 'dead']).where('finished_at', '<', before).execute();
}

export interface DeliveryRow {
  id: number; eventId: string; eventType: string; state: string; attempts: number; nextAttemptAt: number; lastStatus: number | null;
  lastError: string | null; createdAt: number; finishedAt: number | null;
}

export interface AttemptRow { deliveryId: number; attempt: number; at: number; status: number | null; latencyMs: number; error: string | null; response: string | null }

/** The endpoint's deliveries with id below `before` (all when omitted), newest first, at most `limit`, with their event types. */
export async function deliveriesOf(db: Tx, endpointId: number, before: number | undefined, limit: number): Promise<DeliveryRow[]> {
  let q = db.selectFrom('webhook_deliveries as d').innerJoin('events as e', 'e.id', 'd.event_seq')
    .select(['d.id', 'd.event_id', 'e.type', 'd.state', 'd.attempts', 'd.next_attempt_at', 'd.last_status', 'd.last_error', 'd.created_at', 'd.finished_at'])
    .where('d.endpoint_id', '=', endpointId).orderBy('d.id', 'desc').limit(limit);
  if (before !== undefined) q = q.where('d.id', '<', before);
  return (await q.execute()).map((r) => ({
    id: Number(r.id), eventId: r.event_id, eventType: r.type, state: r.state, attempts: Number(r.attempts), nextAttemptAt: Number(r.next_attempt_at),
    lastStatus: r.last_status === null ? null : Number(r.last_status), lastError: r.last_error, createdAt: Number(r.created_at), finishedAt: r.finished_at === null ? null : Number(r.finished_at),
  }));
}

/** The attempts of these deliveries, in the order they were made. */
export async function attemptsOf(db: Tx, deliveryIds: number[]): Promise<AttemptRow[]> {
  if (deliveryIds.length === 0) return [];
  // Ordered by insertion (time), not by attempt number: a redelivery restarts the numbering at 1.
  const rows = await db.selectFrom('webhook_attempts').selectAll().where('delivery_id', 'in', deliveryIds).orderBy('id').execute();
  return rows.map((a) => ({
    deliveryId: Number(a.delivery_id), attempt: Number(a.attempt), at: Number(a.at), status: a.status === null ? null : Number(a.status), latencyMs: Number(a.latency_ms),
    error: a.error, response: a.response,
  }));
}

/** Makes the endpoint's delivery pending again, due now, with its attempts counted afresh; false when there is no such delivery. */
export async function resetDelivery(tx: Tx, endpointId: number, deliveryId: number, now = Date.now()): Promise<boolean> {
  const res = await tx.updateTable('webhook_deliveries').set({ state: 'pending', attempts: 0, next_attempt_at: now, lease_until: 0, finished_at: null })
    .where('id', '=', deliveryId).where('endpoint_id', '=', endpointId).executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** For every enabled endpoint with pending deliveries, the event position of its oldest one. */
export async function pendingHeads(db: Tx): Promise<{ endpointId: number; eventSeq: number }[]> {
  const rows = await db.selectFrom('webhook_deliveries').select(['endpoint_id', (eb) => eb.fn.min('event_seq').as('event_seq')])
    .where('state', '=', 'pending')
    .where('endpoint_id', 'in', (eb) => eb.selectFrom('webhook_endpoints').select('id').where('enabled', '=', 1))
    .groupBy('endpoint_id').execute();
  return rows.map((h) => ({ endpointId: Number(h.endpoint_id), eventSeq: Number(h.event_seq) }));
}

/** The endpoint's delivery of one event: what the dispatcher needs to decide whether to send it now. */
export async function deliveryOfEvent(db: Tx, endpointId: number, eventSeq: number): Promise<{ id: number; attempts: number; nextAttemptAt: number; leaseUntil: number } | undefined> {
  const d = await db.selectFrom('webhook_deliveries').select(['id', 'attempts', 'next_attempt_at', 'lease_until'])
    .where('endpoint_id', '=', endpointId).where('event_seq', '=', eventSeq).executeTakeFirst();
  return d && { id: Number(d.id), attempts: Number(d.attempts), nextAttemptAt: Number(d.next_attempt_at), leaseUntil: Number(d.lease_until) };
}

/** Leases a pending delivery until `until` unless someone holds an unexpired lease on it; true when taken. */
export async function leaseDelivery(db: Tx, id: number, until: number, now: number): Promise<boolean> {
  const res = await db.updateTable('webhook_deliveries').set({ lease_until: until })
    .where('id', '=', id).where('state', '=', 'pending').where('lease_until', '<=', now).executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

export interface AttemptOutcome {
  attempt: number; at: number; status: number | null; latencyMs: number; error: string | null; response: string | null;
  /** the delivery's state after it */
  state: string; lastError: string | null; nextAttemptAt: number; finishedAt: number | null;
}

/**
 * Records an attempt and the delivery's new state, releasing its lease. False (nothing recorded) when the
 * delivery is gone: its endpoint was removed while the request was in flight.
 */
export async function recordAttempt(tx: Tx, deliveryId: number, o: AttemptOutcome): Promise<boolean> {
  if (!(await tx.selectFrom('webhook_deliveries').select('id').where('id', '=', deliveryId).executeTakeFirst())) return false;
  await tx.insertInto('webhook_attempts').values({
    delivery_id: deliveryId, attempt: o.attempt, at: o.at, status: o.status, latency_ms: o.latencyMs, error: o.error, response: o.response,
  }).execute();
  await tx.updateTable('webhook_deliveries').set({
    state: o.state, attempts: o.attempt, lease_until: 0, last_status: o.status, last_error: o.lastError, next_attempt_at: o.nextAttemptAt, finished_at: o.finishedAt,
  }).where('id', '=', deliveryId).execute();
  return true;
}
