import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MetadataStore } from '../../src/db/database.js';
import { openSqlite } from '../../src/db/dialects/sqlite.js';
import { param, PreparedQuery } from '../../src/db/prepared.js';

describe('PreparedQuery on SQLite', () => {
  let dir: string;
  let meta: MetadataStore;
  let byName: PreparedQuery<{ id: number; name: string }>;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-prepared-'));
    meta = await openSqlite({ path: path.join(dir, 'meta.db') });
    byName = new PreparedQuery(() => meta.db.selectFrom('repositories').select(['id', 'name']).where('name', '=', param('name')));
  });
  after(async () => {
    await meta.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('reads committed rows with the values bound by name', async () => {
    await meta.transaction((tx) => tx.insertInto('repositories').values({ name: 'a/b', created_at: 1 }).execute());
    assert.equal((await byName.first(meta.db, { name: 'a/b' }))?.name, 'a/b');
    assert.equal(await byName.first(meta.db, { name: 'nope' }), undefined);
    await assert.rejects(byName.first(meta.db, {}), /missing query parameter name/);
  });

  test('a read while a transaction is open answers at once, never sees its uncommitted writes, and sees them once committed', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => { release = resolve; });
    let inserted!: () => void;
    const insertedP = new Promise<void>((resolve) => { inserted = resolve; });
    const tx = meta.transaction(async (t) => {
      await t.insertInto('repositories').values({ name: 'pending/repo', created_at: 2 }).execute();
      inserted();
      await held;
    });
    await insertedP;
    // Reads never wait for a writer (of this process or another): they see what was committed.
    assert.equal(await byName.first(meta.db, { name: 'pending/repo' }), undefined, 'an uncommitted write was seen');
    assert.equal(await meta.db.selectFrom('repositories').select('name').where('name', '=', 'pending/repo').executeTakeFirst(), undefined);
    release();
    await tx;
    assert.equal((await byName.first(meta.db, { name: 'pending/repo' }))?.name, 'pending/repo');
  });

  test('a rolled-back write is never seen', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => { release = resolve; });
    const tx = meta.transaction(async (t) => {
      await t.insertInto('repositories').values({ name: 'rolled/back', created_at: 3 }).execute();
      await held;
      throw new Error('no');
    });
    const read = byName.first(meta.db, { name: 'rolled/back' });
    release();
    await assert.rejects(tx, /no/);
    assert.equal(await read, undefined);
  });
});
