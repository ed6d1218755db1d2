// Direct reads and writes of a test server's metadata database, on whichever dialect it runs: the SQLite
// file in its data dir, or the PostgreSQL database made for it (test/helpers/berth.ts). SQL is written
// once with `?` placeholders, or `@name` ones with one object of values; on PostgreSQL they become $1, $2, ….
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { MetadataStore } from '../../src/db/database.js';
import { openPostgres } from '../../src/db/dialects/postgres.js';
import { openSqlite } from '../../src/db/dialects/sqlite.js';
import { testDatabase, testDatabaseEnv } from './berth.js';
import { createTestDatabase } from './postgres.js';

export interface TestDb {
  dialect: 'sqlite' | 'postgres';
  all<R = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<R[]>;
  get<R = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<R | undefined>;
  /** a statement without rows; resolves with how many rows it changed */
  run(sql: string, ...params: unknown[]): Promise<number>;
  /** Everything the database holds, as bytes to search: the SQLite file and its WAL, or every row of every table. */
  contents(): Promise<Buffer>;
  close(): Promise<void>;
}

const MARKER = '.berth-test-postgres-url';

/** Opens the database of the server whose data dir this is. */
export function openTestDb(dataDir: string, opts: { readonly?: boolean } = {}): TestDb {
  let url: string | undefined;
  try {
    url = readFileSync(path.join(dataDir, MARKER), 'utf8').trim() || undefined;
  } catch { /* SQLite */ }
  return url ? postgresDb(url) : sqliteDb(path.join(dataDir, 'berth.db'), opts.readonly ?? false);
}

function sqliteDb(file: string, readonly: boolean): TestDb {
  const files = [file, `${file}-wal`];
  const db = new Database(file, { readonly, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  // Integers beyond 2^31 come back as numbers (times in ms), as the PostgreSQL side parses them.
  return {
    dialect: 'sqlite',
    all: async (sql, ...params) => db.prepare(sql).all(...params) as never[],
    get: async (sql, ...params) => db.prepare(sql).get(...params) as never,
    run: async (sql, ...params) => db.prepare(sql).run(...params).changes,
    contents: async () => Buffer.concat(files.filter((f) => existsSync(f)).map((f) => readFileSync(f))),
    close: async () => { db.close(); },
  };
}

const types = {
  getTypeParser: (oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format),
} as pg.CustomTypesConfig;

function postgresDb(url: string): TestDb {
  const pool = new pg.Pool({ connectionString: url, max: 2, types });
  pool.on('error', () => undefined);
  const query = (sql: string, params: unknown[]) => {
    const named = params.length === 1 && isValues(params[0]) && /@[a-z_]+/.test(sql) ? params[0] : undefined;
    const values: unknown[] = [];
    const text = named
      ? sql.replace(/@([a-z_]+)/g, (_, k: string) => { values.push(named[k]); return `$${values.length}`; })
      : sql.replace(/\?/g, () => { values.push(params[values.length]); return `$${values.length}`; });
    return pool.query(text, values);
  };
  return {
    dialect: 'postgres',
    all: async (sql, ...params) => (await query(sql, params)).rows,
    get: async (sql, ...params) => (await query(sql, params)).rows[0],
    run: async (sql, ...params) => (await query(sql, params)).rowCount ?? 0,
    contents: async () => {
      const tables = (await pool.query<{ t: string }>("select tablename as t from pg_tables where schemaname = 'public' order by 1")).rows;
      const parts: Buffer[] = [];
      for (const { t } of tables) for (const r of (await pool.query<{ row: string }>(`select x::text as row from "${t}" x`)).rows) parts.push(Buffer.from(r.row));
      return Buffer.concat(parts);
    },
    close: () => pool.end(),
  };
}

const isValues = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);

/**
 * A fresh, empty metadata database for tests that open stores themselves, on the run's dialect
 * (BERTH_TEST_DATABASE): a SQLite file in a temporary dir, or a PostgreSQL database of its own.
 * `location` is what openStoreAt (here or in a child process) opens again.
 */
export async function newTestDatabase(prefix = 'berth-db-'): Promise<{ location: string; drop(): Promise<void> }> {
  if (testDatabase() === 'postgres') {
    const db = await createTestDatabase(prefix.replace(/[^a-z0-9]+/gi, '_').replace(/_+$/, ''));
    return { location: db.url, drop: () => db.drop() };
  }
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { location: path.join(dir, 'berth.db'), drop: () => rm(dir, { recursive: true, force: true }) };
}

/** Opens a store on a location newTestDatabase gave: a postgres:// URL or a SQLite file. */
export function openStoreAt(location: string, opts: { lockTimeoutMs?: number } = {}): Promise<MetadataStore> {
  return /^postgres(ql)?:\/\//.test(location) ? openPostgres({ url: location, poolSize: 4 }) : openSqlite({ path: location, ...opts });
}

/** A store on a data dir's metadata, on the run's dialect (the database a test server there uses, or will). */
export async function openTestStore(dataDir: string): Promise<MetadataStore> {
  const env = await testDatabaseEnv(dataDir);
  return openStoreAt(env.BERTH_DATABASE__POSTGRES__URL ?? path.join(dataDir, 'berth.db'));
}
