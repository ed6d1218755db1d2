// Brings a database to the latest schema (migrations are append-only).
import { Migrator } from 'kysely';
import type { Db } from './database.js';
import { migrations, type Dialect } from './migrations/index.js';

export async function migrate(db: Db, dialect: Dialect): Promise<void> {
  const all = migrations(dialect);
  const migrator = new Migrator({ db, provider: { getMigrations: async () => all } });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? error}`);
  }
}
