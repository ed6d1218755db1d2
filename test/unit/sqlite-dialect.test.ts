// The SQLite dialect waits for another connection's write lock without blocking the event loop, and
// reads never wait for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { openSqlite } from '../../src/db/dialects/sqlite.js';
import { param, PreparedQuery } from '../../src/db/prepared.js';

test('while another connection holds the write lock: reads answer, the event loop runs, writes wait and then commit', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-dialect-'));
  const file = path.join(dir, 'berth.db');
  const meta = await openSqlite({ path: file, lockTimeoutMs: 5000 });
  const other = new Database(file);
  try {
    await meta.transaction((tx) => tx.insertInto('repositories').values({ name: 'a/b', created_at: 1 }).execute());
    other.exec('begin immediate');
    other.prepare("insert into repositories (name, created_at) values ('other/held', 2)").run();
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 5);
    const write = meta.transaction((tx) => tx.insertInto('repositories').values({ name: 'c/d', created_at: 3 }).execute());
    const autocommit = meta.db.insertInto('repositories').values({ name: 'e/f', created_at: 4 }).execute();
    let settled = false;
    void Promise.allSettled([write, autocommit]).then(() => { settled = true; });
    await new Promise((r) => setTimeout(r, 200));
    clearInterval(timer);
    assert.ok(ticks >= 10, `the event loop ran while the writes waited (${ticks} ticks)`);
    assert.equal(settled, false, 'the writes wait for the lock');
    // Reads of both kinds answer now, with what is committed.
    const byName = new PreparedQuery(() => meta.db.selectFrom('repositories').select('name').where('name', '=', param('name')));
    assert.equal((await byName.first(meta.db, { name: 'a/b' }))?.name, 'a/b');
    assert.deepEqual((await meta.db.selectFrom('repositories').select('name').orderBy('name').execute()).map((r) => r.name), ['a/b']);
    other.exec('commit');
    await write;
    await autocommit;
    assert.deepEqual((await meta.db.selectFrom('repositories').select('name').orderBy('name').execute()).map((r) => r.name), ['a/b', 'c/d', 'e/f', 'other/held']);
  } finally {
    other.close();
    await meta.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a write that waits longer than the lock timeout fails with a clear error and changes nothing', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-dialect-'));
  const file = path.join(dir, 'berth.db');
  const meta = await openSqlite({ path: file, lockTimeoutMs: 150 });
  const other = new Database(file);
  try {
    other.exec('begin immediate');
    await assert.rejects(meta.transaction((tx) => tx.insertInto('repositories').values({ name: 'x/y', created_at: 1 }).execute()),
      /locked by another process/);
    await assert.rejects(meta.relaxed((db) => db.insertInto('repositories').values({ name: 'x/z', created_at: 1 }).execute()), /locked by another process/);
    other.exec('rollback');
    assert.equal((await meta.db.selectFrom('repositories').select('name').execute()).length, 0);
    // The store recovers by itself once the lock is free.
    await meta.transaction((tx) => tx.insertInto('repositories').values({ name: 'x/y', created_at: 1 }).execute());
    assert.equal((await meta.db.selectFrom('repositories').select('name').execute()).length, 1);
  } finally {
    other.close();
    await meta.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Commit frames in a WAL file (the frame header's commit field is the page count after a commit, else 0). */
function walCommits(file: string): number {
  const wal = readFileSync(`${file}-wal`);
  if (wal.length < 32) return 0;
  const pageSize = wal.readUInt32BE(8);
  const salts = wal.subarray(16, 24);
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (!wal.subarray(at + 8, at + 16).equals(salts)) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits++;
  }
  return commits;
}

test('transactions begun by separate I/O callbacks of one turn of the event loop share a durable commit', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-dialect-'));
  const file = path.join(dir, 'berth.db');
  const meta = await openSqlite({ path: file });
  try {
    // A checkpoint empties the WAL; after it, every commit of the test is a commit frame there.
    await sql`pragma wal_checkpoint(truncate)`.execute(meta.db);
    const before = walCommits(file);
    // As requests do: each transaction starts in its own macrotask (here, timers due at once).
    const writes = await new Promise<Promise<unknown>[]>((resolve) => {
      const started: Promise<unknown>[] = [];
      for (let i = 0; i < 20; i++) {
        setTimeout(() => {
          started.push(meta.transaction((tx) => tx.insertInto('repositories').values({ name: `group/r${i}`, created_at: i }).execute()));
          if (started.length === 20) resolve(started);
        }, 0);
      }
    });
    await Promise.all(writes);
    const commits = walCommits(file) - before;
    assert.equal((await meta.db.selectFrom('repositories').select('name').where('name', 'like', 'group/%').execute()).length, 20);
    assert.ok(commits >= 1 && commits <= 2, `20 transactions committed in ${commits} commits`);
  } finally {
    await meta.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
