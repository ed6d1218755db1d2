// The audit chain under concurrent writers: every writer locks the chain head (table audit_head) before
// it builds on it, so many writers (several stores on one SQLite file; several connection pools on one
// PostgreSQL database) leave one chain, without a gap, a fork or a lost record. Also: the head is
// backfilled from an existing chain, and records after an archive that took every record continue it.
// berth-test: dialects-inside (it runs its writers on SQLite and on PostgreSQL itself)
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { AuditService } from '../../src/audit/audit-service.js';
import { verifyAudit } from '../../src/audit/audit-verifier.js';
import { GENESIS, Journal, recordHash, type RequestContext } from '../../src/audit/journal.js';
import type { MetadataStore } from '../../src/db/database.js';
import { openSqlite } from '../../src/db/dialects/sqlite.js';
import { migrate } from '../../src/db/migrate.js';
import { migrations } from '../../src/db/migrations/index.js';
import type { Database as Schema } from '../../src/db/schema.js';

const WRITERS = 4;
const ROUNDS = 25;

const ctx = (writer: number): RequestContext => ({ actor: `writer-${writer}`, actorSource: 'system', address: '127.0.0.1', userAgent: 'audit-chain-test', requestId: `w${writer}` });

/**
 * Every store writes ROUNDS records in its own write transactions (Journal.write) and ROUNDS batched ones
 * (Journal.record), all at once; returns how many records were written.
 */
async function writeConcurrently(stores: MetadataStore[]): Promise<number> {
  const journals = stores.map((m) => new Journal(m));
  const writes: Promise<unknown>[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    journals.forEach((j, w) => {
      writes.push(stores[w].transaction((tx) => j.write(tx, ctx(w), [
        { action: 'test.write', resource: `writer:${w}`, detail: { round, n: 0 } },
        { action: 'test.write', resource: `writer:${w}`, detail: { round, n: 1 } },
      ])));
      writes.push(j.record(ctx(w), [{ action: 'test.record', resource: `writer:${w}`, detail: { round } }]));
    });
    // Let the writes of different stores overlap instead of each store's running to its end first.
    await new Promise((r) => setImmediate(r));
  }
  const results = await Promise.allSettled(writes);
  const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
  assert.equal(failed.length, 0, `writes failed: ${failed.slice(0, 3).map((f) => String(f.reason)).join('; ')}`);
  return WRITERS * ROUNDS * 3;
}

/** The chain verifies, has exactly the records written (each once), and the head row is its last record. */
async function assertOneChain(meta: MetadataStore, expected: number): Promise<void> {
  const v = await verifyAudit(meta.db, []);
  assert.equal(v.ok, true, `chain verifies: ${v.firstBad?.reason}`);
  assert.equal(v.records, expected);
  assert.equal(v.head?.seq, expected);
  const rows = await meta.db.selectFrom('audit_log').select(['actor', 'action', 'detail']).execute();
  const keys = new Set(rows.map((r) => `${r.actor} ${r.action} ${r.detail}`));
  assert.equal(keys.size, expected, 'every record is there once');
  const head = await meta.db.selectFrom('audit_head').selectAll().execute();
  assert.equal(head.length, 1);
  assert.deepEqual({ seq: Number(head[0].seq), hash: head[0].hash }, v.head);
}

function tempDir(): { dir: string; file: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-audit-chain-'));
  return { dir, file: path.join(dir, 'berth.db'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

describe('audit chain on SQLite', () => {
  test('several stores on one file writing at once leave one chain without gap or fork', async () => {
    const t = tempDir();
    const stores: MetadataStore[] = [];
    try {
      for (let i = 0; i < WRITERS; i++) stores.push(await openSqlite({ path: t.file, lockTimeoutMs: 30_000 }));
      const n = await writeConcurrently(stores);
      await assertOneChain(stores[0], n);
    } finally {
      for (const s of stores) await s.close();
      t.remove();
    }
  });

  test('the head is backfilled from a chain written before it existed, and the chain continues from there', async () => {
    const t = tempDir();
    try {
      // A database at the migration before the head, with three chained records in it.
      const old = new Kysely<any>({ dialect: new SqliteDialect({ database: new Database(t.file) }) });
      const all = migrations('sqlite');
      const before = Object.fromEntries(Object.entries(all).filter(([name]) => name < '0013'));
      const { error } = await new Migrator({ db: old, provider: { getMigrations: async () => before } }).migrateToLatest();
      assert.equal(error, undefined);
      let prev = GENESIS;
      for (let seq = 1; seq <= 3; seq++) {
        const r = { seq, at: seq, actor: 'old', actorSource: 'system', address: '', userAgent: '', action: 'test.old', resource: 'old', outcome: 'success' as const, requestId: '', detail: null, prevHash: prev };
        const hash = recordHash(r);
        await old.insertInto('audit_log').values({ seq, at: r.at, actor: r.actor, actor_source: r.actorSource, address: '', user_agent: '', action: r.action, resource: r.resource, outcome: r.outcome, request_id: '', detail: null, prev_hash: prev, hash }).execute();
        prev = hash;
      }
      await old.destroy();
      const meta = await openSqlite({ path: t.file });
      try {
        assert.deepEqual(await meta.db.selectFrom('audit_head').select(['seq', 'hash']).executeTakeFirst(), { seq: 3, hash: prev });
        await meta.transaction((tx) => new Journal(meta).write(tx, ctx(0), [{ action: 'test.new', resource: 'new' }]));
        const v = await verifyAudit(meta.db, []);
        assert.equal(v.ok, true, v.firstBad?.reason);
        assert.equal(v.records, 4);
        assert.equal((await meta.db.selectFrom('audit_log').select('prev_hash').where('seq', '=', 4).executeTakeFirstOrThrow()).prev_hash, prev);
      } finally {
        await meta.close();
      }
    } finally {
      t.remove();
    }
  });

  test('after an archive that took every record, new records continue the archived chain', async () => {
    const t = tempDir();
    const meta = await openSqlite({ path: t.file });
    try {
      const journal = new Journal(meta);
      await meta.transaction((tx) => journal.write(tx, ctx(0), [1, 2, 3, 4, 5].map((i) => ({ action: 'test.before', resource: `r${i}` }))));
      const audit = new AuditService(meta, { signingKeyFile: path.join(t.dir, 'audit.key'), trustedKeyFiles: [], archiveDir: path.join(t.dir, 'archive') });
      const archived = await audit.archive(Date.now() + 1000);
      assert.equal(archived.records, 5);
      assert.equal((await meta.db.selectFrom('audit_log').select('seq').execute()).length, 0);
      await meta.transaction((tx) => journal.write(tx, ctx(0), [{ action: 'test.after', resource: 'r6' }]));
      const six = await meta.db.selectFrom('audit_log').selectAll().executeTakeFirstOrThrow();
      assert.equal(Number(six.seq), 6, 'numbering continues after the archived records');
      const checkpoint = await meta.db.selectFrom('audit_checkpoints').select('hash').where('seq', '=', 5).executeTakeFirstOrThrow();
      assert.equal(six.prev_hash, checkpoint.hash, 'the new record links to the last archived one');
      const v = await audit.verify();
      assert.equal(v.ok, true, v.firstBad?.reason);
      assert.equal(v.records, 1);
      assert.equal(v.from, 5);
    } finally {
      await meta.close();
      t.remove();
    }
  });
});

// PostgreSQL at 127.0.0.1:5432 (trust auth), as the other dialect tests expect it.
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };

function postgresStore(database: string): MetadataStore {
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool: new pg.Pool({ ...PG, database, max: 4 }) }) });
  const transaction = <T>(fn: (tx: Kysely<Schema>) => Promise<T>) => db.transaction().execute(fn);
  return { db, dialect: 'postgres', transaction, relaxed: (fn) => fn(db), relaxedTransaction: transaction, close: () => db.destroy() };
}

describe('audit chain on PostgreSQL', () => {
  test('several connection pools writing at once leave one chain without gap or fork', async () => {
    const admin = new pg.Client({ ...PG, database: 'postgres' });
    try {
      await admin.connect();
    } catch (e) {
      assert.fail(`PostgreSQL is not reachable at ${PG.host}:${PG.port} (${(e as Error).message}); install and start it: apt-get install postgresql && service postgresql start`);
    }
    const name = `berth_audit_chain_${process.pid}_${Date.now()}`;
    await admin.query(`create database ${name}`);
    const stores: MetadataStore[] = [];
    try {
      const first = postgresStore(name);
      stores.push(first);
      await migrate(first.db, 'postgres');
      for (let i = 1; i < WRITERS; i++) stores.push(postgresStore(name));
      const n = await writeConcurrently(stores);
      await assertOneChain(first, n);
    } finally {
      for (const s of stores) await s.close();
      // A closed pool's server sessions may outlive it for a moment; dropping by force then would
      // kill them under clients that have not quite let go (an uncaught error here).
      for (let i = 0; i < 100 && (await admin.query('select 1 from pg_stat_activity where datname = $1', [name])).rowCount! > 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await admin.query(`drop database if exists ${name}`);
      await admin.end();
    }
  });
});
