// The SQLite dialect: one file, WAL, two connections. Writes (and everything inside a transaction) go
// through the writer connection, one holder at a time; plain reads go to a reader connection and never
// queue behind a write or wait for the write lock. Another process holding the write lock (`berth gc`,
// a `berth user` command, a second worker) is waited for asynchronously: better-sqlite3's own busy
// handler would sleep inside the event loop and freeze every request, /healthz included. A database
// found read-only (its filesystem remounted, or read-only at start) is still served for reading, and its
// connections are opened again on a later write, so writes work once it is writable, without a restart.
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import {
  CompiledQuery, Kysely, SelectQueryNode, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler, sql,
  type DatabaseConnection, type Dialect, type Driver, type QueryResult,
} from 'kysely';
import type { MetadataStore, Tx } from '../database.js';
import { isUpToDate, migrate } from '../migrate.js';
import { SYNC_READ, type SyncRead } from '../prepared.js';
import type { Database } from '../schema.js';

export interface SqliteOptions {
  path: string;
  /** how long a write waits for another process's write lock before it fails (ms) */
  lockTimeoutMs?: number;
}

export async function openSqlite(opts: SqliteOptions): Promise<MetadataStore> {
  mkdirSync(path.dirname(path.resolve(opts.path)), { recursive: true });
  const lockTimeoutMs = opts.lockTimeoutMs ?? 10_000;
  const pair = new SqliteDriverPair(opts.path, lockTimeoutMs);
  const db = new Kysely<Database>({ dialect: berthSqliteDialect(pair) });
  // Hot-path point reads answer synchronously on the reader: it never sees a transaction's uncommitted writes.
  const syncRead: SyncRead = (text, params) => {
    const reader = pair.currentReader();
    if (!reader) return undefined;
    const st = reader.prepare(text);
    if (!st.reader) return undefined;
    try {
      return st.all(...params);
    } catch (e) {
      if (isBusy(e)) return undefined;
      throw e;
    }
  };
  Object.defineProperty(db, SYNC_READ, { value: syncRead });
  try {
    // Kysely's migrator takes no lock on SQLite: processes opening a fresh file at once (a CLI command
    // beside a starting server, two workers) would each create the tables. Migrating inside one
    // BEGIN IMMEDIATE makes the others wait, then find the work done.
    if (!(await isUpToDate(db, 'sqlite'))) {
      await db.connection().execute(async (conn) => {
        await sql`begin immediate`.execute(conn);
        try {
          await migrate(conn, 'sqlite');
          await sql`commit`.execute(conn);
        } catch (e) {
          await sql`rollback`.execute(conn).catch(() => undefined);
          throw e;
        }
      });
    }
  } catch (e) {
    await db.destroy().catch(() => undefined);
    throw e;
  }
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

/** The writer's pragmas: WAL, FULL durability, and no waiting inside SQLite (the driver retries, see BUSY). */
function openWriter(file: string): SQLite.Database {
  let writer: SQLite.Database;
  try {
    writer = new SQLite(file);
  } catch (e) {
    throw explainOpenFailure(file, e);
  }
  try {
    writer.pragma('journal_mode = WAL');
    // FULL: a commit that answered 201 survives power loss, not only a process crash.
    writer.pragma('synchronous = FULL');
    writer.pragma('busy_timeout = 0');
    writer.pragma('foreign_keys = ON');
  } catch (e) {
    writer.close();
    throw explainOpenFailure(file, e);
  }
  return writer;
}

function openReader(file: string): SQLite.Database {
  const reader = new SQLite(file);
  // Readers of a WAL database do not take the write lock; a short wait covers the rare moments
  // (WAL recovery after a crash) when a reader must.
  reader.pragma('busy_timeout = 50');
  reader.pragma('query_only = ON');
  return reader;
}

/**
 * On a read-only filesystem SQLite can read a WAL database only while its -shm and -wal files exist (a
 * process that stopped there, or crashed, leaves them); after a clean stop it cannot even read, and says
 * only "unable to open database file".
 */
function explainOpenFailure(file: string, e: unknown): unknown {
  try {
    accessSync(path.dirname(path.resolve(file)), constants.W_OK);
    return e;
  } catch (denied) {
    if ((denied as NodeJS.ErrnoException).code !== 'EROFS' || existsSync(`${file}-shm`)) return e;
    const why = existsSync(file)
      ? 'cannot be read there: SQLite needs its -shm file, which the last process removed when it stopped'
      : 'does not exist and cannot be created there';
    return Object.assign(new Error(`the database ${file} is on a read-only filesystem and ${why}; make the filesystem writable`),
      { code: (e as { code?: string }).code ?? 'SQLITE_CANTOPEN' });
  }
}

/** Errors after which the connections may be stale: opened while the file was read-only, or failing. */
const isStale = (e: unknown): boolean => {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' && /^SQLITE_(READONLY|CANTOPEN|IOERR)/.test(code);
};

/** Reopening stale connections is tried at most this often. */
const REOPEN_INTERVAL_MS = 1000;

class SqliteDriverPair implements Driver {
  readonly writerLock = new Mutex();
  private writer?: SQLite.Database;
  private reader?: SQLite.Database;
  /** why the connections could not be (re)opened */
  private broken?: unknown;
  private stale = false;
  private reopenedAt = 0;
  /** streamed reads in progress: connections are not replaced under them */
  streams = 0;

  constructor(readonly file: string, readonly lockTimeoutMs: number) {
    this.open();
    if (this.broken) throw this.broken;
  }

  private open(): void {
    try {
      const writer = withStatementCache(openWriter(this.file));
      try {
        this.reader = withStatementCache(openReader(this.file));
      } catch (e) {
        writer.close();
        throw e;
      }
      this.writer = writer;
      this.broken = undefined;
    } catch (e) {
      this.broken = e;
    }
  }

  /**
   * A write failed on a read-only (or failing) database. A connection opened while the filesystem was
   * read-only stays read-only after it becomes writable again, and SQLite shares the read-only -shm mapping
   * with every connection of this process to the file: both are closed and opened again, on a later write.
   */
  markStale(): void {
    this.stale = true;
  }

  /** Called by the holder of the writer lock, outside a transaction: replaces stale connections. */
  refresh(): void {
    if (!(this.stale || this.broken) || this.streams > 0 || Date.now() - this.reopenedAt < REOPEN_INTERVAL_MS) return;
    if (this.writer?.inTransaction) return;
    this.reopenedAt = Date.now();
    this.stale = false;
    this.closeConnections();
    this.open();
  }

  private closeConnections(): void {
    for (const c of [this.reader, this.writer]) {
      try { c?.close(); } catch { /* closing is best effort */ }
    }
    this.reader = this.writer = undefined;
  }

  currentReader(): SQLite.Database | undefined { return this.reader; }

  connections(): { writer: SQLite.Database; reader: SQLite.Database } {
    // Nothing can be using connections that failed to open: trying again needs no lock.
    if (this.broken) this.refresh();
    if (!this.writer || !this.reader) throw this.broken ?? new Error('the database is closed');
    return { writer: this.writer, reader: this.reader };
  }

  async init(): Promise<void> {}

  // The writer is taken lazily, by the first statement that needs it, and held until release.
  async acquireConnection(): Promise<DatabaseConnection> { return new RoutedConnection(this); }

  async beginTransaction(c: DatabaseConnection): Promise<void> { await c.executeQuery(CompiledQuery.raw('begin immediate')); }
  async commitTransaction(c: DatabaseConnection): Promise<void> { await c.executeQuery(CompiledQuery.raw('commit')); }
  async rollbackTransaction(c: DatabaseConnection): Promise<void> { await c.executeQuery(CompiledQuery.raw('rollback')); }
  async releaseConnection(c: DatabaseConnection): Promise<void> { (c as RoutedConnection).release(); }

  async destroy(): Promise<void> {
    this.closeConnections();
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
    if (!this.unlock && SelectQueryNode.is(q.query)) {
      try {
        return run<R>(this.d.connections().reader, q);
      } catch (e) {
        if (isStale(e)) this.d.markStale();
        throw e;
      }
    }
    if (!this.unlock) {
      this.unlock = await this.d.writerLock.lock();
      this.d.refresh();
    }
    const { writer } = this.d.connections();
    const start = Date.now();
    for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
      try {
        return run<R>(writer, q);
      } catch (e) {
        if (isStale(e)) this.d.markStale();
        // Outside a transaction nothing was applied: try again once the other process lets go. Inside
        // one (we hold the write lock), a busy error is not a lock wait and is the caller's to handle.
        if (!isBusy(e) || writer.inTransaction) throw e;
        if (Date.now() - start >= this.d.lockTimeoutMs) throw new DatabaseBusyError(Date.now() - start);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  async *streamQuery<R>(q: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(q.query)) throw new Error('only select queries stream');
    const { writer, reader } = this.d.connections();
    const db = this.unlock ? writer : reader;
    this.d.streams++;
    try {
      for (const row of db.prepare(q.sql).iterate(...q.parameters)) yield { rows: [row as R] };
    } finally {
      this.d.streams--;
    }
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
      if (!this.running) {
        // better-sqlite3 commits synchronously: started at once, every batch would hold only the first
        // caller, since nothing else runs until its COMMIT returns. Starting after the I/O callbacks of
        // this turn of the event loop lets every request parsed in it join the batch.
        this.running = true;
        setImmediate(() => void this.drain());
      }
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
