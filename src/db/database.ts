// The metadata store every service uses: the query builder, the one transaction helper, and the
// migrations. Dialects (dialects/sqlite.ts; PostgreSQL beside it) open it.
import type { Kysely, Transaction } from 'kysely';
import type { Dialect } from './migrations/index.js';
import type { Invalidations } from './invalidation.js';
import type { Database } from './schema.js';

export type { Dialect };

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
  /** Announcements of changes to cached rows, from every process (PostgreSQL; db/invalidation.ts) */
  invalidations?: Invalidations;
  close(): Promise<void>;
}

/** Answers when the database does (readiness): one cheap read, which throws when it cannot be made. */
export async function probeDatabase(db: Db): Promise<void> {
  await db.selectFrom('repositories').select('id').limit(1).execute();
}

