// The contract every metadata store (SQLite, PostgreSQL) must keep, the database counterpart of the
// storage driver suite: atomic transactions, values that come back as they went in, byte-order text, and
// the concurrency Berth relies on (one lease holder, compare-and-set cursors, event ids visible in
// ascending order) with several stores on one database, as several processes have them.
// Usage: runMetadataStoreSuite('sqlite', async () => ({ open: () => openSqlite(...), cleanup }));
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MetadataStore } from '../../src/db/database.js';
import { moveCursor, ensureCursor, readCursor } from '../../src/db/cursors.js';
import { eventsAfter, insertEvents } from '../../src/db/events.js';
import { LeaseStore } from '../../src/db/leases.js';
import { findManifestId, insertManifest, tagTarget, upsertTag } from '../../src/db/manifests.js';
import { ensureRepository, listRepositories } from '../../src/db/repositories.js';

/** A fresh, empty database; `open` gives another store on it each call (another process, as it were). */
export type StoreFactory = () => Promise<{ open(): Promise<MetadataStore>; cleanup(): Promise<void> }>;

async function withStores(factory: StoreFactory, n: number, fn: (stores: MetadataStore[]) => Promise<void>): Promise<void> {
  const db = await factory();
  const stores: MetadataStore[] = [];
  try {
    // One after another: the first migrates; concurrent opens have a test of their own.
    for (let i = 0; i < n; i++) stores.push(await db.open());
    await fn(stores);
  } finally {
    for (const s of stores) await s.close().catch(() => undefined);
    await db.cleanup();
  }
}

const event = (i: number, tag: string) => ({ eventId: `${tag}-${i}`, type: 'test.event', repository: null, payload: '{}', createdAt: Date.now() });

export function runMetadataStoreSuite(name: string, factory: StoreFactory): void {
  describe(`metadata store: ${name}`, () => {
    test('a transaction commits all of its writes or none; a failing one leaves the others\' work in place', async () => {
      await withStores(factory, 1, async ([s]) => {
        const results = await Promise.allSettled([1, 2, 3].map((i) => s.transaction(async (tx) => {
          await tx.insertInto('repositories').values({ name: `atomic/r${i}-a`, created_at: i }).execute();
          await tx.insertInto('repositories').values({ name: `atomic/r${i}-b`, created_at: i }).execute();
          if (i === 2) throw new Error('second fails');
          return i;
        })));
        assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
        assert.equal((results[0] as PromiseFulfilledResult<number>).value, 1, 'each caller gets its own result');
        assert.match(String((results[1] as PromiseRejectedResult).reason), /second fails/);
        const names = (await s.db.selectFrom('repositories').select('name').where('name', 'like', 'atomic/%').orderBy('name').execute()).map((r) => r.name);
        assert.deepEqual(names, ['atomic/r1-a', 'atomic/r1-b', 'atomic/r3-a', 'atomic/r3-b']);
      });
    });

    test('relaxed writes and relaxed transactions commit and are read back', async () => {
      await withStores(factory, 1, async ([s]) => {
        await s.relaxed((db) => db.insertInto('cursors').values({ name: 'relaxed:one', value: 7 }).execute());
        await s.relaxedTransaction(async (tx) => {
          await tx.insertInto('cursors').values({ name: 'relaxed:two', value: 8 }).execute();
          await tx.updateTable('cursors').set({ value: 9 }).where('name', '=', 'relaxed:one').execute();
        });
        await assert.rejects(s.relaxedTransaction(async (tx) => {
          await tx.insertInto('cursors').values({ name: 'relaxed:three', value: 1 }).execute();
          throw new Error('no');
        }), /no/);
        assert.equal(await readCursor(s.db, 'relaxed:one'), 9);
        assert.equal(await readCursor(s.db, 'relaxed:two'), 8);
        assert.equal(await readCursor(s.db, 'relaxed:three'), undefined);
      });
    });

    test('values come back as they went in: large integers as numbers, bytes as bytes', async () => {
      await withStores(factory, 1, async ([s]) => {
        const at = 1_764_000_000_123; // a time in ms, beyond 32 bits
        const content = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80, 0, 0x7b]); // not UTF-8, with NULs
        const id = await s.transaction(async (tx) => {
          const repositoryId = await ensureRepository(tx, 'values/r', at);
          return insertManifest(tx, {
            repositoryId, digest: 'sha256:' + 'a'.repeat(64), mediaType: 'application/x-test', artifactType: null, subjectDigest: null,
            content, annotations: null, createdAt: at, totalSize: 5_000_000_000,
          }, [], []);
        });
        assert.equal(typeof id, 'number');
        const row = await s.db.selectFrom('manifests').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
        assert.equal(row.created_at, at);
        assert.equal(typeof row.created_at, 'number');
        assert.equal(row.total_size, 5_000_000_000);
        assert.ok(Buffer.isBuffer(row.content) && row.content.equals(content), 'content byte for byte');
        const count = await s.db.selectFrom('manifests').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
        assert.equal(Number(count.n), 1);
      });
    });

    test('names sort in byte order (as the distribution spec\'s lexical order and paging cursors need)', async () => {
      await withStores(factory, 1, async ([s]) => {
        const names = ['b/x', 'B/x', 'a/b', 'a-b/c', 'a/b/c', 'a_b/c', 'a.b/c', 'z/9', 'a/B'];
        await s.transaction(async (tx) => {
          for (const n of names) {
            const repositoryId = await ensureRepository(tx, n, 1);
            const digest = `sha256:${Buffer.from(n).toString('hex').padEnd(64, '0')}`;
            await insertManifest(tx, { repositoryId, digest, mediaType: 'application/x-test', artifactType: null, subjectDigest: null, content: Buffer.from(n), annotations: null, createdAt: 1, totalSize: 1 }, [], []);
          }
        });
        const bytewise = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        const page1 = await listRepositories(s.db, 4, undefined, undefined, s.dialect);
        const page2 = await listRepositories(s.db, 10, page1.names.at(-1), undefined, s.dialect);
        assert.deepEqual([...page1.names, ...page2.names], bytewise);
        assert.equal(page1.more, true);
        assert.equal(page2.more, false);
        // Substring search is exact and case-sensitive on both dialects.
        assert.deepEqual((await listRepositories(s.db, 10, undefined, 'a/b', s.dialect)).names, ['a/b', 'a/b/c']);
        assert.deepEqual((await listRepositories(s.db, 10, undefined, '_b', s.dialect)).names, ['a_b/c']);
      });
    });

    test('concurrent moves of one tag from two stores: every one commits and the tag ends at one of them', async () => {
      await withStores(factory, 2, async (stores) => {
        const ids = await stores[0].transaction(async (tx) => {
          const repositoryId = await ensureRepository(tx, 'tags/r', 1);
          const out: number[] = [];
          for (let i = 0; i < 6; i++) {
            out.push(await insertManifest(tx, { repositoryId, digest: `sha256:${String(i).repeat(64)}`, mediaType: 'application/x-test', artifactType: null, subjectDigest: null, content: Buffer.from([i]), annotations: null, createdAt: 1, totalSize: 1 }, [], []));
          }
          return { repositoryId, manifests: out };
        });
        const moves = Array.from({ length: 24 }, (_, k) => stores[k % 2].transaction(async (tx) => {
          const repositoryId = await ensureRepository(tx, 'tags/r', 2);
          await upsertTag(tx, repositoryId, 'latest', ids.manifests[k % 6], k);
        }));
        const settled = await Promise.allSettled(moves);
        assert.deepEqual(settled.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), []);
        const target = await tagTarget(stores[1].db, ids.repositoryId, 'latest');
        assert.ok(target && [...Array(6).keys()].some((i) => target.digest === `sha256:${String(i).repeat(64)}`));
        assert.equal((await stores[0].db.selectFrom('tags').select('name').execute()).length, 1);
        assert.equal(await findManifestId(stores[1].db, ids.repositoryId, `sha256:${'5'.repeat(64)}`), ids.manifests[5]);
      });
    });

    test('one lease has one holder among concurrent takers on several stores', async () => {
      await withStores(factory, 3, async (stores) => {
        const leases = stores.map((s) => new LeaseStore(s));
        const now = Date.now();
        const taken = await Promise.all(Array.from({ length: 12 }, (_, k) => leases[k % 3].acquire('job:suite', `holder-${k}`, 60_000, now)));
        assert.equal(taken.filter(Boolean).length, 1, `one holder (${taken.join(',')})`);
        const holder = `holder-${taken.indexOf(true)}`;
        assert.equal((await leases[1].get('job:suite'))?.holder, holder);
        assert.equal(await leases[2].acquire('job:suite', 'other', 60_000, now + 1), false, 'a live lease is not taken');
        assert.equal(await leases[0].acquire('job:suite', 'late', 60_000, now + 61_000), true, 'an expired one is');
      });
    });

    test('a cursor moves by compare-and-set: of concurrent movers from one position, one wins', async () => {
      await withStores(factory, 2, async (stores) => {
        await ensureCursor(stores[0].db, 'consumer:suite', 0);
        const moved = await Promise.all(Array.from({ length: 10 }, (_, k) => stores[k % 2].transaction((tx) => moveCursor(tx, 'consumer:suite', 0, k + 1))));
        assert.equal(moved.filter(Boolean).length, 1);
        assert.equal(await readCursor(stores[1].db, 'consumer:suite'), moved.indexOf(true) + 1);
      });
    });

    test('event ids become visible in ascending order while transactions of several stores append at once', async () => {
      await withStores(factory, 2, async (stores) => {
        // Each transaction appends, then stays open a while: on a database where ids are taken at insert
        // and visible at commit, a later, quicker transaction would show a higher id first, and a reader
        // that keeps its place by id would never see the lower one.
        let done = false;
        const writers = Array.from({ length: 12 }, (_, k) => (async () => {
          await sleep(k * 7);
          await stores[k % 2].transaction(async (tx) => {
            await insertEvents(tx, [event(k, 'order')], stores[k % 2].dialect);
            await sleep(k % 3 === 0 ? 60 : 2);
          });
        })());
        const all = Promise.all(writers).finally(() => { done = true; });
        const seen: number[] = [];
        let last = 0;
        for (;;) {
          const finished = done;
          const rows = await eventsAfter(stores[0].db, last, { limit: 100 });
          for (const r of rows) {
            assert.ok(r.id > last, `ids ascend (${r.id} after ${last})`);
            seen.push(r.id);
            last = r.id;
          }
          if (finished) break;
          await sleep(1);
        }
        await all;
        const ids = (await stores[1].db.selectFrom('events').select('id').orderBy('id').execute()).map((r) => Number(r.id));
        assert.equal(ids.length, 12);
        assert.deepEqual(seen, ids, 'the reader, keeping its place by id, saw every event');
      });
    });

    test('several stores opening a fresh database at once migrate it once, and all of them work', async () => {
      const db = await factory();
      const stores: MetadataStore[] = [];
      try {
        const opened = await Promise.allSettled([db.open(), db.open(), db.open()]);
        for (const o of opened) if (o.status === 'fulfilled') stores.push(o.value);
        assert.deepEqual(opened.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason)), []);
        for (const [i, s] of stores.entries()) await s.transaction((tx) => ensureRepository(tx, `migrated/r${i}`, 1));
        const names = await stores[0].db.selectFrom('repositories').select('name').orderBy('name').execute();
        assert.deepEqual(names.map((r) => r.name), ['migrated/r0', 'migrated/r1', 'migrated/r2']);
      } finally {
        for (const s of stores) await s.close().catch(() => undefined);
        await db.cleanup();
      }
    });
  });
}
