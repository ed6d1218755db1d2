// Brings a database to the latest schema (migrations are append-only).
import { Migrator, sql } from 'kysely';
import type { Db } from './database.js';
import { migrations, type Dialect } from './migrations/index.js';

export async function migrate(db: Db, dialect: Dialect): Promise<void> {
  const all = migrations(dialect);
  // Nothing to do is found by reading alone: the migrator takes its lock with a write, which a database
  // on a read-only filesystem refuses, and such a database can still be served for reading.
  if (await upToDate(db, Object.keys(all))) return;
  const migrator = new Migrator({ db, provider: { getMigrations: async () => all } });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? error}`, { cause: error });
  }
}

/** Whether every migration is applied (by reading alone). */
export async function isUpToDate(db: Db, dialect: Dialect): Promise<boolean> {
  return upToDate(db, Object.keys(migrations(dialect)));
}

async function upToDate(db: Db, names: string[]): Promise<boolean> {
  try {
    const { rows } = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
    const applied = new Set(rows.map((r) => r.name));
    return names.every((n) => applied.has(n));
  } catch {
    return false; // no migration table yet
  }
}
