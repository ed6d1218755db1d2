// berth-test: dialects-inside (the caches exist on PostgreSQL only; the SQLite part checks they stay off)
// Caches kept exact across processes (db/invalidation.ts): two stores on one PostgreSQL database are two
// processes; what one changes, the other's caches drop on the announcement its change commits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPostgres } from '../../src/db/dialects/postgres.js';
import { openSqlite } from '../../src/db/dialects/sqlite.js';
import type { MetadataStore } from '../../src/db/database.js';
import { bumpAccessGeneration } from '../../src/db/cursors.js';
import { InvalidatedCache, type Invalidations } from '../../src/db/invalidation.js';
import { insertManifest, ManifestLookups, upsertTag } from '../../src/db/manifests.js';
import { ensureRepository } from '../../src/db/repositories.js';
import { BlobLookups, linkBlob, unlinkBlob, upsertBlob } from '../../src/db/blobs.js';
import { insertUser, setUserDisabled, UserLookups } from '../../src/db/users.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { waitFor } from '../helpers/receiver.js';
import { tempDir, removeDir } from '../helpers/berth.js';
import path from 'node:path';
import { CompiledQuery } from 'kysely';

async function manifest(meta: MetadataStore, name: string, tag: string, n: number): Promise<string> {
  const digest = `sha256:${n.toString(16).padStart(64, '0')}`;
  await meta.transaction(async (tx) => {
    const repositoryId = await ensureRepository(tx, name, Date.now());
    const id = await insertManifest(tx, {
      repositoryId, digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: null, subjectDigest: null,
      content: Buffer.from(`{"n":${n}}`), annotations: null, createdAt: Date.now(), totalSize: 10,
    }, [], []);
    await upsertTag(tx, repositoryId, tag, id, Date.now());
  });
  return digest;
}

const liveOf = (m: MetadataStore) => waitFor('the listener to be live', () => m.invalidations?.live || undefined, 10_000);

test('a tag moved, a user disabled or the access generation moved in one process is seen by the other\'s caches', async () => {
  const db = await createTestDatabase('berth_invalidation');
  const a = await openPostgres({ url: db.url, poolSize: 2 });
  const b = await openPostgres({ url: db.url, poolSize: 2 });
  try {
    await liveOf(a);
    const lookups = new ManifestLookups(a.db, a.invalidations);
    const first = await manifest(b, 'team/app', 'v1', 1);
    // Its announcement may reach A while A reads (the fill is then dropped): let it arrive first.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await lookups.getByTag('team/app', 'v1'))?.digest, first);
    // Served from memory now: with the announcement switched off, A keeps the old answer.
    const raw = (m: MetadataStore, q: string) => m.db.executeQuery(CompiledQuery.raw(q));
    await raw(b, 'alter table tags disable trigger tags_invalidate');
    const unannounced = await manifest(b, 'team/app', 'v1', 5);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await lookups.getByTag('team/app', 'v1'))?.digest, first, 'from the cache');
    await raw(b, 'alter table tags enable trigger tags_invalidate');
    assert.notEqual(unannounced, first);
    const second = await manifest(b, 'team/app', 'v1', 2);
    await waitFor('A to serve the moved tag', async () => ((await lookups.getByTag('team/app', 'v1'))?.digest === second) || undefined, 5000, 20);
    assert.equal((await lookups.headByDigest('team/app', first))?.digest, first, 'the old manifest is still there by digest');

    // A blob link removed beside A is gone from A's lookups too.
    const blobs = new BlobLookups(a.db, a.invalidations);
    const blob = `sha256:${'b'.repeat(64)}`;
    await b.transaction(async (tx) => {
      await upsertBlob(tx, blob, 10, Date.now());
      await linkBlob(tx, (await ensureRepository(tx, 'team/app', Date.now())), blob, Date.now());
    });
    assert.equal((await blobs.linkedBlob('team/app', blob))?.size, 10);
    await b.transaction(async (tx) => { await unlinkBlob(tx, (await ensureRepository(tx, 'team/app', Date.now())), blob); });
    await waitFor('A to see the link gone', async () => ((await blobs.linkedBlob('team/app', blob)) === undefined) || undefined, 5000, 20);

    const users = new UserLookups(a.db, a.invalidations);
    await b.transaction((tx) => insertUser(tx, { name: 'carol', passwordHash: null, admin: false, source: 'local', createdAt: 1 }));
    const before = await users.find('carol');
    assert.equal(before?.disabled, false);
    await b.transaction((tx) => setUserDisabled(tx, 'carol', true, Date.now()));
    await waitFor('A to see carol disabled', async () => (await users.find('carol'))?.disabled || undefined, 5000, 20);
    const generation = (await users.find('carol'))!.accessGeneration;
    await b.transaction((tx) => bumpAccessGeneration(tx));
    await waitFor('A to see the access generation move', async () => ((await users.find('carol'))!.accessGeneration === generation + 1) || undefined, 5000, 20);
  } finally {
    await a.close();
    await b.close();
    await db.drop();
  }
});

test('while the listening connection is lost nothing is served from a cache, and caching resumes once it is back', async () => {
  const db = await createTestDatabase('berth_invalidation_lost');
  const a = await openPostgres({ url: db.url, poolSize: 2 });
  const b = await openPostgres({ url: db.url, poolSize: 2 });
  try {
    await liveOf(a);
    await liveOf(b);
    const lookups = new ManifestLookups(a.db, a.invalidations);
    await manifest(b, 'team/app', 'v1', 1);
    await lookups.getByTag('team/app', 'v1');
    // Cut every listener of this database (A's and B's): an announcement made now reaches nobody.
    const cut = await b.db.executeQuery<{ n: number }>(CompiledQuery.raw("select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where application_name = 'berth-listen' and datname = current_database()"));
    assert.ok(cut.rows[0]!.n >= 2, 'both listeners were cut');
    await waitFor('A to notice', () => (a.invalidations!.live ? undefined : true), 5000, 5);
    const moved = await manifest(b, 'team/app', 'v1', 3);
    assert.equal((await lookups.getByTag('team/app', 'v1'))?.digest, moved, 'read from the database while the channel is down');
    await liveOf(a);
    assert.equal((await lookups.getByTag('team/app', 'v1'))?.digest, moved, 'and after it is back, the entry filled before the cut is gone');
    const again = await manifest(b, 'team/app', 'v1', 4);
    await waitFor('announcements to flow again', async () => ((await lookups.getByTag('team/app', 'v1'))?.digest === again) || undefined, 5000, 20);
  } finally {
    await a.close();
    await b.close();
    await db.drop();
  }
});

test('a fill from a read that an announcement overtook is dropped; entries go by topic and by bound', () => {
  const subs: ((t: string) => void)[] = [];
  const inv: Invalidations & { epoch: number; live: boolean } = { live: true, epoch: 0, subscribe: (fn) => { subs.push(fn); } };
  const announce = (t: string) => { inv.epoch++; for (const fn of subs) fn(t); };
  const cache = new InvalidatedCache<string>(inv, { maxEntries: 2 });
  const e = cache.epoch();
  announce('r:1'); // arrives while the read is out
  cache.fill('k', 'stale', ['r:1'], e);
  assert.equal(cache.get('k'), undefined, 'the read may have seen the row before the change');
  cache.fill('k', 'v', ['r:1'], cache.epoch());
  cache.fill('j', 'w', ['r:2'], cache.epoch());
  assert.equal(cache.get('k'), 'v');
  announce('r:1');
  assert.equal(cache.get('k'), undefined);
  assert.equal(cache.get('j'), 'w', 'other topics stay');
  cache.fill('x', '1', ['r:3'], cache.epoch());
  cache.fill('y', '2', ['r:3'], cache.epoch());
  assert.equal(cache.size, 2, 'bounded');
  inv.live = false;
  assert.equal(cache.get('y'), undefined, 'not served while announcements are not received');
});

test('SQLite has no announcements, and its lookups cache nothing', async () => {
  const dir = await tempDir('berth-inv-');
  const meta = await openSqlite({ path: path.join(dir, 'berth.db') });
  try {
    assert.equal(meta.invalidations, undefined);
    const lookups = new ManifestLookups(meta.db, meta.invalidations);
    const first = await manifest(meta, 'team/app', 'v1', 1);
    assert.equal((await lookups.getByTag('team/app', 'v1'))?.digest, first);
    const second = await manifest(meta, 'team/app', 'v1', 2);
    assert.equal((await lookups.getByTag('team/app', 'v1'))?.digest, second);
  } finally {
    await meta.close();
    await removeDir(dir);
  }
});
