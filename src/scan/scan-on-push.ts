// Scan on push: a consumer of the outbox queues every pushed manifest for a scan, in the transaction that
// moves its cursor (exactly once, never on the request path); scan workers in any process take them from
// the queue (scan-worker.ts).
import { enqueueScans } from '../db/scans.js';
import type { TransactionalConsumer } from '../events/consumer.js';

export const SCAN_ON_PUSH = 'scan-on-push';

export function scanOnPush(): TransactionalConsumer {
  return {
    name: SCAN_ON_PUSH,
    mode: 'transaction',
    wants: { types: ['manifest.pushed'] },
    // Manifests pushed before scanning existed are scanned on demand or by `berth scan all`, not all at once.
    startAt: 'now',
    batchSize: 200,
    async handle(tx, events) {
      const items = events.flatMap((ce) => {
        const t = ce.event.target;
        return t?.digest && t.repository ? [{ digest: t.digest, repository: t.repository, reason: 'push' }] : [];
      });
      await enqueueScans(tx, items, Date.now());
    },
  };
}
