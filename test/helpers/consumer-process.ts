// A second process running one event consumer on a test database (a SQLite file or a postgres:// URL), for the consumer tests: it prints
// `holder <id>` once, then `handled <seq> <event id>` for every event handed to its (transactional)
// handler, and runs until killed. Usage: node --import tsx consumer-process.ts DB NAME LEASE_MS
import { openStoreAt } from './db.js';
import { ConsumerRunner } from '../../src/events/consumer-runner.js';

const [file, name, leaseMs] = process.argv.slice(2);
const meta = await openStoreAt(file!);
const runner = new ConsumerRunner(meta, {
  name: name!, mode: 'transaction', wants: {}, batchSize: 5,
  async handle(_tx, events) {
    // Printed before the commit: a kill right after may leave these uncommitted (the next holder gets them again).
    for (const e of events) process.stdout.write(`handled ${e.seq} ${e.event.id}\n`);
  },
}, { leaseMs: Number(leaseMs), pollMs: 20 });
process.stdout.write(`holder ${runner.holder}\n`);
runner.start();
