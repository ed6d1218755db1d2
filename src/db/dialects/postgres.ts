// The PostgreSQL dialect: a pool of connections to one database that several Berth processes share.
// PostgreSQL gives each transaction its own connection and commits concurrent ones together on its own
// (its WAL flush covers every commit waiting for it), so there is no group commit here. What SQLite's
// single writer gave for free is explicit where it matters: the audit chain head and spool progress are
// locked FOR UPDATE (audit-log.ts, audit-spool.ts), and the outbox takes a transaction lock so that event
// ids are handed out in commit order (events.ts).
import pg from 'pg';
import { Kysely, PostgresDialect, sql, type PostgresPool, type PostgresPoolClient } from 'kysely';
import type { MetadataStore, Tx } from '../database.js';
import type { Invalidations } from '../invalidation.js';
import { migrate } from '../migrate.js';
import type { Database } from '../schema.js';

export interface PostgresOptions {
  /** a postgres:// (or postgresql://) URL */
  url: string;
  /** the password, when it is not in the URL (database.postgres.passwordFile) */
  password?: string;
  /** connections this process keeps at most */
  poolSize?: number;
  /** a statement running longer is cancelled by the server (ms; 0: no limit) */
  statementTimeoutMs?: number;
  /** how long taking a connection from the server may take before it fails (ms) */
  connectTimeoutMs?: number;
}

/** SQLSTATEs after which a transaction is worth running again from the start: nothing of it committed. */
const RETRYABLE = new Set(['40001', '40P01']);
const ATTEMPTS = 4;

/**
 * A connection could not be had (server down, refused, too many clients): the error keeps its cause and
 * gets a code infrastructureError maps to DATABASE_UNAVAILABLE.
 */
export class DatabaseUnreachableError extends Error {
  readonly code = 'BERTH_DB_UNREACHABLE';
  constructor(cause: unknown) {
    super(`the PostgreSQL server cannot be reached: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/** Integer types come back as numbers, as SQLite's do (bigint ids and times stay below 2^53). */
const types = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') => {
    if (oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

export function validatePostgresUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error('database.postgres.url must be a postgres:// URL');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new Error(`database.postgres.url must be a postgres:// URL, not ${u.protocol}//`);
  if (u.pathname.length <= 1) throw new Error('database.postgres.url must name the database (postgres://HOST/DATABASE)');
}

export async function openPostgres(opts: PostgresOptions): Promise<MetadataStore> {
  validatePostgresUrl(opts.url);
  const pool = new pg.Pool({
    connectionString: opts.url,
    ...(opts.password !== undefined ? { password: opts.password } : {}),
    max: opts.poolSize ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
    // Sent at connect: every connection cancels statements that run too long.
    ...(opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs } : {}),
    application_name: 'berth',
    types,
  });
  // An idle connection the server closed (restart, admin termination) is dropped from the pool; without
  // a listener its error would end the process.
  pool.on('error', () => undefined);
  const adapter: PostgresPool = {
    connect: async () => {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (e) {
        throw new DatabaseUnreachableError(e);
      }
      return guarded(client);
    },
    end: () => pool.end(),
  };
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: adapter }) });
  try {
    await migrateOnce(db);
  } catch (e) {
    await db.destroy().catch(() => undefined);
    throw e;
  }
  const transaction = async <T>(fn: (tx: Tx) => Promise<T>, relaxed = false): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await db.transaction().execute(async (tx) => {
          // Committed without waiting for the WAL flush: lost at most on a server crash, never inconsistent.
          if (relaxed) await sql`set local synchronous_commit = off`.execute(tx);
          return fn(tx);
        });
      } catch (e) {
        const code = (e as { code?: unknown })?.code;
        if (attempt >= ATTEMPTS || typeof code !== 'string' || !RETRYABLE.has(code)) throw e;
        await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
      }
    }
  };
  const invalidations = new Listener({
    connectionString: opts.url, ...(opts.password !== undefined ? { password: opts.password } : {}),
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000, application_name: 'berth-listen',
  });
  invalidations.start();
  return {
    db,
    dialect: 'postgres',
    transaction: (fn) => transaction(fn),
    relaxed: (fn) => transaction(fn, true),
    relaxedTransaction: (fn) => transaction(fn, true),
    invalidations,
    async close() {
      await invalidations.stop();
      await db.destroy();
    },
  };
}

/** The channel the invalidation triggers (migration 0019) announce on. */
const CHANNEL = 'berth_invalidate';

/**
 * One connection per process that LISTENs for the triggers' announcements (db/invalidation.ts). When it
 * is lost, caches go dark at once (`live` false, everything dropped) and it connects again with backoff;
 * once listening again everything is dropped once more, since announcements in between were missed.
 */
class Listener implements Invalidations {
  live = false;
  epoch = 0;
  private readonly subscribers: ((topic: string) => void)[] = [];
  private client?: pg.Client;
  private stopped = false;
  private retryMs = 100;
  private timer?: NodeJS.Timeout;

  constructor(private readonly config: pg.ClientConfig) {}

  subscribe(fn: (topic: string) => void): void {
    this.subscribers.push(fn);
  }

  start(): void {
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.down();
    await this.client?.end().catch(() => undefined);
  }

  private emit(topic: string): void {
    this.epoch++;
    for (const fn of this.subscribers) fn(topic);
  }

  private down(): void {
    if (this.live) this.live = false;
    this.emit('*');
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client(this.config);
    this.client = client;
    let failed = false;
    const fail = () => {
      if (failed) return;
      failed = true;
      this.down();
      client.end().catch(() => undefined);
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.connect(), this.retryMs);
      this.timer.unref();
      this.retryMs = Math.min(this.retryMs * 2, 5000);
    };
    client.on('error', fail);
    client.on('end', fail);
    client.on('notification', (m) => { if (m.channel === CHANNEL && m.payload) this.emit(m.payload); });
    try {
      await client.connect();
      await client.query(`listen ${CHANNEL}`);
    } catch {
      fail();
      return;
    }
    if (this.stopped) { await client.end().catch(() => undefined); return; }
    this.retryMs = 100;
    // Anything may have changed while nobody listened.
    this.emit('*');
    this.live = true;
  }
}

const BROKEN = Symbol('berth.pg.broken');
type Guarded = pg.PoolClient & { [BROKEN]?: boolean };

/** A lost connection: no SQLSTATE (the server never answered), only the socket's or the driver's word. */
const connectionLost = (e: unknown): boolean => {
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true;
  return code === undefined && /connection terminated|not queryable|connection error|ended unexpectedly/i.test((e as Error)?.message ?? '');
};

/**
 * A pooled client as Kysely uses it. The pool listens for errors only while a client is idle: a connection
 * lost while checked out (between a transaction's statements) would raise an 'error' event nobody handles
 * and end the process. Such a client is marked, its queries fail as DATABASE_UNAVAILABLE, and it is
 * destroyed when released instead of going back to the pool.
 */
function guarded(client: Guarded): PostgresPoolClient {
  if (!(BROKEN in client)) {
    client[BROKEN] = false;
    client.on('error', () => { client[BROKEN] = true; });
  }
  const query = async (text: string, params: readonly unknown[]) => {
    try {
      return await client.query(text, params as unknown[]);
    } catch (e) {
      if (!connectionLost(e)) throw e;
      client[BROKEN] = true;
      throw new DatabaseUnreachableError(e);
    }
  };
  return {
    query: query as unknown as PostgresPoolClient['query'],
    release: () => client.release(client[BROKEN] ? true : undefined),
  };
}

/** Key of the advisory lock that lets one process at a time migrate a shared database. */
const MIGRATION_LOCK = 0x62657274; // "bert"

/**
 * Several processes starting together on one database: one migrates while the others wait for it, then
 * find nothing to do. (Kysely's migrator locks too, but only after reading what is applied.)
 */
async function migrateOnce(db: Kysely<Database>): Promise<void> {
  await db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK})`.execute(conn);
    try {
      await migrate(conn, 'postgres');
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK})`.execute(conn);
    }
  });
}
