// Opens the metadata database, applies migrations, and provides the one transaction helper.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql, type Transaction } from 'kysely';
import { migrations, type Dialect } from './migrations/index.js';
import { SYNC_READ, type SyncRead } from './prepared.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;
export type Tx = Kysely<Database> | Transaction<Database>;

/** Runs a write transaction (main.ts passes the store's, which takes the write lock up front). */
export type Transact = <T>(fn: (tx: Tx) => Promise<T>) => Promise<T>;

export interface MetadataStore {
  db: Db;
  dialect: Dialect;
  /**
   * Runs fn in a write transaction, atomically: all of its changes commit, or none. On SQLite it takes
   * the write lock up front (BEGIN IMMEDIATE), so writers in other processes queue instead of failing
   * to upgrade a read lock, and concurrent transactions of this process share one commit.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * Runs a small write whose loss on power failure is harmless (upload progress that is re-checked
   * against storage): committed without waiting for the disk. A process crash still never loses it.
   */
  relaxed<T>(fn: (db: Tx) => Promise<T>): Promise<T>;
  /**
   * A write transaction committed without waiting for the disk: for work that is safe to redo after a
   * power failure (audit records of reads, webhook fan-out and attempt results). A process crash loses nothing.
   */
  relaxedTransaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface SqliteOptions { path: string }

export async function openSqlite(opts: SqliteOptions): Promise<MetadataStore> {
  mkdirSync(path.dirname(path.resolve(opts.path)), { recursive: true });
  const database = new SQLite(opts.path);
  database.pragma('journal_mode = WAL');
  // FULL: a commit that answered 201 survives power loss, not only a process crash.
  database.pragma('synchronous = FULL');
  database.pragma('busy_timeout = 10000');
  database.pragma('foreign_keys = ON');
  const cached = withStatementCache(database);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cached }) });
  const syncRead: SyncRead = (text, params) => {
    if (database.inTransaction) return undefined;
    const st = cached.prepare(text);
    return st.reader ? st.all(...params) : undefined;
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

interface Job { fn: (tx: Tx) => Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void }

/**
 * Group commit: transactions that queue while one is running share the next BEGIN IMMEDIATE ... COMMIT,
 * each inside its own savepoint, so concurrent pushes pay for one durable commit (one WAL fsync) between
 * them. A job that throws rolls back to its savepoint only; callers learn their outcome after COMMIT.
 */
class GroupCommit {
  private queue: Job[] = [];
  private running = false;

  constructor(private readonly db: Db, private readonly maxBatch = 64) {}

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

async function migrate(db: Db, dialect: Dialect): Promise<void> {
  const all = migrations(dialect);
  const migrator = new Migrator({ db, provider: { getMigrations: async () => all } });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? error}`);
  }
}
