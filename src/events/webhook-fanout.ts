// The first consumer of the outbox: every event becomes one pending delivery per enabled endpoint that
// subscribes to its family (and its repository, for organization endpoints and repository patterns). It
// writes the deliveries in the transaction that moves its cursor, so each event is fanned out once.
// Sending them is jobs/webhook-dispatcher.ts's part.
import { enabledEndpoints, insertDeliveries, type NewDelivery } from '../db/webhook-deliveries.js';
import { globMatch } from '../lib/glob.js';
import type { TransactionalConsumer } from './consumer.js';
import { EVENT_FAMILIES, familyOf, namespaceOfEvent } from './event.js';

/** The fan-out's consumer name: its cursor and lease are `consumer:webhook-fanout`. */
export const WEBHOOK_FANOUT = 'webhook-fanout';

export function webhookFanout(): TransactionalConsumer {
  return {
    name: WEBHOOK_FANOUT,
    mode: 'transaction',
    // Every family endpoints can subscribe to; pings go to their one endpoint directly (webhooks.ts).
    wants: { families: EVENT_FAMILIES },
    batchSize: 500,
    async handle(tx, events) {
      const endpoints = await enabledEndpoints(tx);
      const deliveries: NewDelivery[] = [];
      for (const ce of events) {
        const family = familyOf(ce.event.type);
        const namespace = namespaceOfEvent(ce.repository, ce.event);
        for (const ep of endpoints) {
          if (ce.seq < ep.fromEvent) continue;
          if (!ep.families.includes(family)) continue;
          // An organization's endpoint hears about its own repositories and members only (never about logins).
          if (ep.org !== null && (namespace === null || namespace !== ep.org)) continue;
          if (ep.repositoryPattern && (ce.repository === null || !globMatch(ep.repositoryPattern, ce.repository))) continue;
          deliveries.push({ endpointId: ep.id, eventSeq: ce.seq, eventId: ce.event.id });
        }
      }
      await insertDeliveries(tx, deliveries);
    },
  };
}
