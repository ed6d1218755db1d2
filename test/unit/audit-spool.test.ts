// The audit spool on its own: lines become records in order; a stopped process's file is taken over once,
// even by two processes at the same time; a torn last line (a write that never finished) is not a record;
// a disk that takes nothing makes appends fail, with the reason, and cuts the torn write off.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { MetadataStore, Tx } from '../../src/db/database.js';
import { openSqlite } from '../../src/db/dialects/sqlite.js';
import { Journal, type PendingRecord } from '../../src/audit/journal.js';
import { Spool, SpoolUnavailableError } from '../../src/audit/spool.js';
import { verifyAudit } from '../../src/audit/audit-verifier.js';

async function store(): Promise<{ dir: string; a: MetadataStore; b: MetadataStore; close(): Promise<void> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-spool-'));
  const a = await openSqlite({ path: path.join(dir, 'berth.db') });
  const b = await openSqlite({ path: path.join(dir, 'berth.db') });
  return { dir, a, b, async close() { await a.close(); await b.close(); rmSync(dir, { recursive: true, force: true }); } };
}

const actions = async (m: MetadataStore) => (await m.db.selectFrom('audit_log').select(['action', 'resource']).orderBy('seq').execute()).map((r) => r.resource);
const ctx = { actor: 'alice', actorSource: 'local', address: '127.0.0.1', userAgent: 'test', requestId: 'r' };

/** A spool file as a process that is gone left it: its pid no longer runs. */
function orphan(dir: string, lines: PendingRecord[], torn = ''): string {
  const pid = spawnSync(process.execPath, ['-e', '0']).pid!;
  const name = `records.${hostname().replace(/[^A-Za-z0-9-]/g, '-') || 'host'}.${pid}.1.dead.1.jsonl`;
  writeFileSync(path.join(dir, name), lines.map((l) => `${JSON.stringify(l)}\n`).join('') + torn);
  return name;
}

/** What the journal does with spooled records: each entry into the chain, at its time. */
const toChain = (m: MetadataStore) => (tx: Tx, items: PendingRecord[]) => new Journal(m).writeMany(tx, items.flatMap((b) => b.entries.map((entry) => ({ ctx: b.ctx, entry, at: b.at }))));

const rec = (i: number, at = Date.now()): PendingRecord => ({ at, ctx, entries: [{ action: 'manifest.pull', resource: `repository:r:${i}` }] });

test('records go into the chain in the order they were taken, each once', async () => {
  const s = await store();
  try {
    const spoolDir = path.join(s.dir, 'spool');
    const j = new Journal(s.a, { spool: { dir: spoolDir, maxBytes: 1 << 20 } });
    await j.open();
    await Promise.all(Array.from({ length: 50 }, (_, i) => j.record(ctx, rec(i).entries)));
    assert.equal(await j.settle(5000), true);
    assert.deepEqual(await actions(s.a), Array.from({ length: 50 }, (_, i) => `repository:r:${i}`));
    await j.close();
    assert.deepEqual(readdirSync(spoolDir), [], 'a clean close leaves no file');
    const { publicKey } = generateKeyPairSync('ed25519');
    assert.equal((await verifyAudit(s.a.db, [publicKey])).ok, true);
  } finally {
    await s.close();
  }
});

test('two processes take over one stopped process\'s file at once: every record once; a torn last line is none', async () => {
  const s = await store();
  try {
    const spoolDir = path.join(s.dir, 'spool');
    mkdirSync(spoolDir);
    orphan(spoolDir, Array.from({ length: 300 }, (_, i) => rec(i)), '{"at":1,"ctx":');
    const mk = (m: MetadataStore) => new Spool<PendingRecord>(m, { dir: spoolDir, stream: 'records', maxBytes: 1 << 20, batch: 7, commit: toChain(m) });
    const [x, y] = [mk(s.a), mk(s.b)];
    const adopted = await Promise.all([x.adopt(), y.adopt()]);
    assert.equal(adopted[0] + adopted[1] >= 300, true, `both passes saw the lines: ${adopted}`);
    const got = await actions(s.a);
    assert.equal(got.length, 300);
    assert.deepEqual(got, Array.from({ length: 300 }, (_, i) => `repository:r:${i}`));
    assert.deepEqual(readdirSync(spoolDir), []);
    assert.deepEqual(await s.a.db.selectFrom('audit_spool').selectAll().execute(), [], 'progress rows go with their files');
    await x.close();
    await y.close();
  } finally {
    await s.close();
  }
});

test('a file taken over half-way (its progress says so) continues where the chain stopped', async () => {
  const s = await store();
  try {
    const spoolDir = path.join(s.dir, 'spool');
    mkdirSync(spoolDir);
    const first = Array.from({ length: 10 }, (_, i) => rec(i));
    const name = orphan(spoolDir, [...first, ...Array.from({ length: 5 }, (_, i) => rec(10 + i))]);
    // As if the dead process had committed its first ten lines (and their progress) before it died.
    const upTo = first.reduce((n, l) => n + Buffer.byteLength(`${JSON.stringify(l)}\n`), 0);
    await s.a.transaction(async (tx) => {
      await toChain(s.a)(tx, first);
      await tx.insertInto('audit_spool').values({ segment: name, consumed: upTo, updated_at: Date.now() }).execute();
    });
    assert.ok(statSync(path.join(spoolDir, name)).size > upTo);
    const sp = new Spool<PendingRecord>(s.b, { dir: spoolDir, stream: 'records', maxBytes: 1 << 20, commit: toChain(s.a) });
    assert.equal(await sp.adopt(), 15);
    assert.deepEqual(await actions(s.a), Array.from({ length: 15 }, (_, i) => `repository:r:${i}`));
    await sp.close();
  } finally {
    await s.close();
  }
});

test('appends past maxBytes, or with the database away, are refused with the reason; the database back, all goes in', async () => {
  const s = await store();
  try {
    const spoolDir = path.join(s.dir, 'spool');
    const sp = new Spool<PendingRecord>(s.a, {
      dir: spoolDir, stream: 'records', maxBytes: 400,
      commit: toChain(s.a),
    });
    await sp.open();
    // The other connection holds the write lock: lines stay in the file.
    const other = new Database(path.join(s.dir, 'berth.db'));
    other.exec('begin immediate');
    let refused: unknown;
    try {
      for (let i = 0; i < 20 && !refused; i++) await sp.append(rec(i)).catch((e) => { refused = e; });
    } finally {
      other.exec('rollback');
      other.close();
    }
    assert.ok(refused instanceof SpoolUnavailableError, String(refused));
    assert.match(refused.reason, /audit\.spool\.maxBytes/);
    assert.equal(await sp.settle(10_000), true);
    assert.ok((await actions(s.a)).length > 0);
    assert.equal(sp.pendingBytes, 0);
    await sp.close();
  } finally {
    await s.close();
  }
});
