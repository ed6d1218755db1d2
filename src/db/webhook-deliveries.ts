// Webhook deliveries as the fan-out and pings create them and history pruning removes them. (Sending,
// leasing and recording attempts is in jobs/webhook-dispatcher.ts.)
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
