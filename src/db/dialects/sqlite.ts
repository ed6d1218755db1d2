// The SQLite dialect: one file, WAL, two connections. Writes (and everything inside a transaction) go
// through the writer connection, one holder at a time; plain reads go to a reader connection and never
// queue behind a write or wait for the write lock. Another process holding the write lock (`berth gc`,
// a `berth user` command, a second worker) is waited for asynchronously: better-sqlite3's own busy
// handler would sleep inside the event loop and freeze every request, /healthz included.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import {
  CompiledQuery, Kysely, SelectQueryNode, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler, sql,
  type DatabaseConnection, type Dialect, type Driver, type QueryResult,
} from 'kysely';
import type { MetadataStore, Tx } from '../database.js';
import { migrate } from '../migrate.js';
import { SYNC_READ, type SyncRead } from '../prepared.js';
import type { Database } from '../schema.js';

export interface SqliteOptions {
  path: string;
  /** how long a write waits for another process's write lock before it fails (ms) */
  lockTimeoutMs?: number;
}

export async function openSqlite(opts: SqliteOptions): Promise<MetadataStore> {
  mkdirSync(path.dirname(path.resolve(opts.path)), { recursive: true });
  const writer = new SQLite(opts.path);
  writer.pragma('journal_mode = WAL');
  // FULL: a commit that answered 201 survives power loss, not only a process crash.
  writer.pragma('synchronous = FULL');
  // Never wait inside SQLite: the driver retries asynchronously (see BUSY below).
  writer.pragma('busy_timeout = 0');
  writer.pragma('foreign_keys = ON');
  const reader = new SQLite(opts.path);
  // Readers of a WAL database do not take the write lock; a short wait covers the rare moments
  // (WAL recovery after a crash) when a reader must.
  reader.pragma('busy_timeout = 50');
  reader.pragma('query_only = ON');
  const cachedWriter = withStatementCache(writer);
  const cachedReader = withStatementCache(reader);
  const lockTimeoutMs = opts.lockTimeoutMs ?? 10_000;
  const db = new Kysely<Database>({ dialect: berthSqliteDialect(new SqliteDriverPair(cachedWriter, cachedReader, lockTimeoutMs)) });
  // Hot-path point reads answer synchronously on the reader: it never sees a transaction's uncommitted writes.
  const syncRead: SyncRead = (text, params) => {
    const st = cachedReader.prepare(text);
    if (!st.reader) return undefined;
    try {
      return st.all(...params);
    } catch (e) {
      if (isBusy(e)) return undefined;
      throw e;
    }
  };
  Object.defineProperty(db, SYNC_READ, { value: syncRead });
  await migrate(db, 'sqlite');
  const commits = new GroupCommit(db);
  return {
    db,
    dialect: 'sqlite',
    transaction: (fn) => commits.run(fn),
    // On its own connection turn, so no durable commit of another caller slips in while it is relaxed.
    relaxed: (fn) => db.connection().execute(async (conn) => {
      await sql`pragma synchronous = NORMAL`.execute(conn);
      try {
        return await fn(conn);
      } finally {
        await sql`pragma synchronous = FULL`.execute(conn);
      }
    }),
    relaxedTransaction: (fn) => db.connection().execute(async (conn) => {
      await sql`pragma synchronous = NORMAL`.execute(conn);
      try {
        await sql`begin immediate`.execute(conn);
        try {
          const result = await fn(conn);
          await sql`commit`.execute(conn);
          return result;
        } catch (e) {
          await sql`rollback`.execute(conn).catch(() => undefined);
          throw e;
        }
      } finally {
        await sql`pragma synchronous = FULL`.execute(conn);
      }
    }),
    async close() { await db.destroy(); },
  };
}

const isBusy = (e: unknown): boolean => {
  const code = (e as { code?: unknown })?.code;
  return code === 'SQLITE_BUSY' || (typeof code === 'string' && code.startsWith('SQLITE_BUSY_'));
};

/** The error a write gets when another process kept the write lock for longer than the lock timeout. */
export class DatabaseBusyError extends Error {
  readonly code = 'SQLITE_BUSY';
  constructor(ms: number) { super(`the database is locked by another process (waited ${ms} ms for its write lock)`); }
}

function berthSqliteDialect(driver: Driver): Dialect {
  return {
    createDriver: () => driver,
    createQueryCompiler: () => new SqliteQueryCompiler(),
    createAdapter: () => new SqliteAdapter(),
    createIntrospector: (db) => new SqliteIntrospector(db),
  };
}

/** A mutex without fairness games: waiters queue in order. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  lock(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => { release = r; });
    const ready = this.tail.then(() => release);
    this.tail = this.tail.then(() => next);
    return ready;
  }
}

class SqliteDriverPair implements Driver {
  readonly writerLock = new Mutex();

  constructor(readonly writer: SQLite.Database, readonly reader: SQLite.Database, readonly lockTimeoutMs: number) {}

  async init(): Promise<void> {}

  // The writer is taken lazily, by the first statement that needs it, and held until release.
  async acquireConnection(): Promise<DatabaseConnection> { return new RoutedConnection(this); }

  async beginTransaction(c: DatabaseConnection): Promise<void> { await c.executeQuery(CompiledQuery.raw('begin immediate')); }
  async commitTransaction(c: DatabaseConnection): Promise<void> { await c.executeQuery(CompiledQuery.raw('commit')); }
  async rollbackTransaction(c: DatabaseConnection): Promise<void> { await c.executeQuery(CompiledQuery.raw('rollback')); }
  async releaseConnection(c: DatabaseConnection): Promise<void> { (c as RoutedConnection).release(); }

  async destroy(): Promise<void> {
    this.reader.close();
    this.writer.close();
  }
}

class RoutedConnection implements DatabaseConnection {
  private unlock?: () => void;

  constructor(private readonly d: SqliteDriverPair) {}

  release(): void {
    this.unlock?.();
    this.unlock = undefined;
  }

  async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
    // A read that is not part of this connection's writes goes to the reader.
    if (!this.unlock && SelectQueryNode.is(q.query)) return run<R>(this.d.reader, q);
    if (!this.unlock) this.unlock = await this.d.writerLock.lock();
    const start = Date.now();
    for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
      try {
        return run<R>(this.d.writer, q);
      } catch (e) {
        // Outside a transaction nothing was applied: try again once the other process lets go. Inside
        // one (we hold the write lock), a busy error is not a lock wait and is the caller's to handle.
        if (!isBusy(e) || this.d.writer.inTransaction) throw e;
        if (Date.now() - start >= this.d.lockTimeoutMs) throw new DatabaseBusyError(Date.now() - start);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  async *streamQuery<R>(q: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(q.query)) throw new Error('only select queries stream');
    const db = this.unlock ? this.d.writer : this.d.reader;
    for (const row of db.prepare(q.sql).iterate(...q.parameters)) yield { rows: [row as R] };
  }
}

function run<R>(db: SQLite.Database, q: CompiledQuery): QueryResult<R> {
  const st = db.prepare(q.sql);
  if (st.reader) return { rows: st.all(...q.parameters) as R[] };
  const { changes, lastInsertRowid } = st.run(...q.parameters);
  return { rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) };
}

interface Job { fn: (tx: Tx) => Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void }

/**
 * Group commit: transactions that queue while one is running share the next BEGIN IMMEDIATE ... COMMIT,
 * each inside its own savepoint, so concurrent pushes pay for one durable commit (one WAL fsync) between
 * them. A job that throws rolls back to its savepoint only; callers learn their outcome after COMMIT.
 */
class GroupCommit {
  private queue: Job[] = [];
  private running = false;

  constructor(private readonly db: Kysely<Database>, private readonly maxBatch = 64) {}

  run<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
      try {
        await this.db.connection().execute(async (conn) => {
          await sql`begin immediate`.execute(conn);
          try {
            for (const job of batch) {
              await sql`savepoint job`.execute(conn);
              try {
                outcomes.push({ ok: true, value: await job.fn(conn) });
                await sql`release job`.execute(conn);
              } catch (error) {
                await sql`rollback to job`.execute(conn);
                await sql`release job`.execute(conn);
                outcomes.push({ ok: false, error });
              }
            }
            await sql`commit`.execute(conn);
          } catch (e) {
            await sql`rollback`.execute(conn).catch(() => undefined);
            throw e;
          }
        });
      } catch (e) {
        for (const job of batch) job.reject(e);
        continue;
      }
      batch.forEach((job, i) => {
        const o = outcomes[i];
        if (o.ok) job.resolve(o.value);
        else job.reject(o.error);
      });
    }
    this.running = false;
  }
}

/**
 * Kysely prepares every query afresh; preparing costs more than running a point lookup. Statements are
 * reused by SQL text (better-sqlite3 runs them synchronously, so one statement is never used twice at once).
 */
function withStatementCache(database: SQLite.Database): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  return new Proxy(database, {
    get(target, prop) {
      if (prop === 'prepare') {
        return (text: string) => {
          let st = cache.get(text);
          if (!st) {
            st = target.prepare(text);
            if (cache.size > 500) cache.clear();
            cache.set(text, st);
          }
          return st;
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
