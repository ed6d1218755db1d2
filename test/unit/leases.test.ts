// berth-test: both-dialects (on the run's database: two stores on one database are two processes)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseStore } from '../../src/db/leases.js';
import { newTestDatabase, openStoreAt } from '../helpers/db.js';

test('a lease has one holder until it expires; renewal and release only by the holder', async () => {
  const db = await newTestDatabase('berth-lease-');
  // Two stores on one database: two processes' view of it.
  const a = await openStoreAt(db.location);
  const b = await openStoreAt(db.location);
  try {
    const la = new LeaseStore(a), lb = new LeaseStore(b);
    const t0 = 1_000_000;
    assert.equal(await la.acquire('gc', 'A', 1000, t0), true);
    assert.equal(await lb.acquire('gc', 'B', 1000, t0 + 10), false, 'held by A');
    assert.equal(await la.acquire('gc', 'A', 1000, t0 + 500), true, 'A extends its own lease');
    assert.equal((await lb.get('gc'))?.acquiredAt, t0, 'an extension keeps the acquisition time');
    assert.equal(await lb.renew('gc', 'B', 1000, t0 + 600), false, 'B cannot renew what A holds');
    assert.equal(await lb.acquire('gc', 'B', 1000, t0 + 1400), false, 'not yet expired (A extended to t0+1500)');
    assert.equal(await lb.acquire('gc', 'B', 1000, t0 + 1501), true, 'expired: B takes over');
    assert.deepEqual(await la.get('gc'), { name: 'gc', holder: 'B', until: t0 + 2501, acquiredAt: t0 + 1501 });
    assert.equal(await la.renew('gc', 'A', 1000, t0 + 1600), false, 'A lost it');
    await la.release('gc', 'A');
    assert.equal((await la.get('gc'))?.holder, 'B', 'release by a non-holder does nothing');
    await lb.release('gc', 'B');
    assert.equal(await la.get('gc'), undefined);
    assert.equal(await la.acquire('gc', 'A', 1000, t0 + 1700), true, 'released: free at once');
    assert.deepEqual((await la.list()).map((l) => l.name), ['gc']);
  } finally {
    await a.close(); await b.close();
    await db.drop();
  }
});
