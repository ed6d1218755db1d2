// Repositories (table repositories): lookup, creation on first write, the catalog and summaries, and
// what removing a whole repository deletes with it.
import { sql } from 'kysely';
import type { Tx } from './database.js';
import { bumpAccessGeneration } from './cursors.js';
import type { Dialect } from './migrations/index.js';

export async function findRepositoryId(db: Tx, name: string): Promise<number | undefined> {
  const row = await db.selectFrom('repositories').select('id').where('name', '=', name).executeTakeFirst();
  return row ? Number(row.id) : undefined;
}

/** Creates the repository on first write. Call inside a transaction. */
export async function ensureRepository(tx: Tx, name: string, now: number): Promise<number> {
  const existing = await findRepositoryId(tx, name);
  if (existing !== undefined) return existing;
  await tx.insertInto('repositories').values({ name, created_at: now }).onConflict((oc) => oc.column('name').doNothing()).execute();
  return (await findRepositoryId(tx, name))!;
}

export interface CatalogPage { names: string[]; more: boolean }

/**
 * A page of repositories holding a manifest, in name order, after `last`; `contains`: only names with that
 * substring (case-sensitive). A substring of three characters or more is looked up in the trigram index
 * (migration 0016; its LIKE ignores ASCII case and treats _ as a wildcard, so the exact test follows).
 */
export async function listRepositories(db: Tx, n: number, last: string | undefined, contains?: string, dialect: Dialect = 'sqlite'): Promise<CatalogPage> {
  let q = db.selectFrom('repositories as r').select('r.name')
    .where((eb) => eb.exists(eb.selectFrom('manifests as m').select('m.id').whereRef('m.repository_id', '=', 'r.id')))
    .orderBy('r.name').limit(n + 1);
  if (last !== undefined) q = q.where('r.name', '>', last);
  if (contains && dialect === 'postgres') {
    // pg_trgm's index (when the extension could be installed) serves LIKE; strpos is the exact test.
    q = q.where(sql<boolean>`r.name like ${`%${contains.replace(/[\\%_]/g, '\\$&')}%`}`).where(sql<boolean>`strpos(r.name, ${contains}) > 0`);
  } else if (contains) {
    if (contains.length >= 3) q = q.where(sql<boolean>`r.id in (select rowid from repository_search where name like ${`%${contains.replace(/%/g, '_')}%`})`);
    q = q.where(sql<boolean>`instr(r.name, ${contains}) > 0`);
  }
  const rows = await q.execute();
  return { names: rows.slice(0, n).map((r) => r.name), more: rows.length > n };
}

export interface RepositorySummary { name: string; tags: number; manifests: number; createdAt: number }

/** Every repository holding at least one manifest, with its tag and manifest counts (one grouped query). */
export async function repositorySummaries(db: Tx): Promise<RepositorySummary[]> {
  const rows = await db.selectFrom('repositories as r')
    .select((eb) => [
      'r.name', 'r.created_at',
      eb.selectFrom('tags as t').select((e) => e.fn.countAll<number>().as('n')).whereRef('t.repository_id', '=', 'r.id').as('tags'),
      eb.selectFrom('manifests as m').select((e) => e.fn.countAll<number>().as('n')).whereRef('m.repository_id', '=', 'r.id').as('manifests'),
    ])
    .where((eb) => eb.exists(eb.selectFrom('manifests as m').select('m.id').whereRef('m.repository_id', '=', 'r.id')))
    .orderBy('r.name').execute();
  return rows.map((r) => ({ name: r.name, tags: Number(r.tags), manifests: Number(r.manifests), createdAt: Number(r.created_at) }));
}

/** The repositories of a namespace (names starting with `ns/`). */
export async function repositoriesInNamespace(tx: Tx, ns: string): Promise<{ id: number; name: string }[]> {
  // "0" follows "/" in byte order: the range holds exactly the names under ns/.
  const rows = await tx.selectFrom('repositories').select(['id', 'name']).where('name', '>=', `${ns}/`).where('name', '<', `${ns}0`).execute();
  return rows.map((r) => ({ id: Number(r.id), name: r.name }));
}

export interface RepositoryContents { tags: number; manifests: number; blobLinks: number; uploads: string[] }

/** What a repository holds: tag, manifest and blob-link counts, and its unfinished uploads' ids. */
export async function repositoryContents(tx: Tx, id: number): Promise<RepositoryContents> {
  const count = async (table: 'tags' | 'manifests' | 'repository_blobs') =>
    Number((await tx.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('repository_id', '=', id).executeTakeFirstOrThrow()).n);
  return {
    tags: await count('tags'), manifests: await count('manifests'), blobLinks: await count('repository_blobs'),
    uploads: (await tx.selectFrom('uploads').select('id').where('repository_id', '=', id).execute()).map((u) => u.id),
  };
}

/** Deletes the repository's rows: tags, manifests, blob links, uploads, visibility, roles, and itself. Blobs stay. */
export async function deleteRepositoryRows(tx: Tx, id: number, name: string): Promise<void> {
  // Children before parents: the foreign keys cascade, but explicit deletes do not depend on
  // SQLite's foreign_keys pragma.
  await tx.deleteFrom('tags').where('repository_id', '=', id).execute();
  await tx.deleteFrom('manifest_blobs').where('repository_id', '=', id).execute();
  await tx.deleteFrom('manifest_children').where('repository_id', '=', id).execute();
  await tx.deleteFrom('manifests').where('repository_id', '=', id).execute();
  await tx.deleteFrom('repository_blobs').where('repository_id', '=', id).execute();
  await tx.deleteFrom('uploads').where('repository_id', '=', id).execute();
  await tx.deleteFrom('repository_settings').where('name', '=', name).execute();
  await tx.deleteFrom('repository_members').where('repository_name', '=', name).execute();
  await bumpAccessGeneration(tx);
  await tx.deleteFrom('repositories').where('id', '=', id).execute();
}
