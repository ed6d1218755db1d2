// Opens the metadata database, applies migrations, and provides the one transaction helper.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql, type Transaction } from 'kysely';
import { migrations, type Dialect } from './migrations/index.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;
export type Tx = Kysely<Database> | Transaction<Database>;

export interface MetadataStore {
  db: Db;
  dialect: Dialect;
  /**
   * Runs fn in a write transaction. On SQLite it takes the write lock up front (BEGIN IMMEDIATE), so
   * concurrent writers in other processes queue instead of failing to upgrade a read lock.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
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
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });
  await migrate(db, 'sqlite');
  let chain: Promise<unknown> = Promise.resolve();
  return {
    db,
    dialect: 'sqlite',
    transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
      // One connection per process: serialize our own transactions, and BEGIN IMMEDIATE across processes.
      const run = chain.then(() => db.connection().execute(async (conn) => {
        await sql`begin immediate`.execute(conn);
        try {
          const result = await fn(conn);
          await sql`commit`.execute(conn);
          return result;
        } catch (e) {
          await sql`rollback`.execute(conn).catch(() => undefined);
          throw e;
        }
      }));
      chain = run.catch(() => undefined);
      return run;
    },
    async close() { await db.destroy(); },
  };
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
