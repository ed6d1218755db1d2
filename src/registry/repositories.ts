import type { Tx } from '../db/database.js';

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

/** Repositories holding at least one manifest, in lexical order, after `last`. */
export async function listRepositories(db: Tx, n: number, last: string | undefined): Promise<CatalogPage> {
  let q = db.selectFrom('repositories as r').select('r.name')
    .where((eb) => eb.exists(eb.selectFrom('manifests as m').select('m.id').whereRef('m.repository_id', '=', 'r.id')))
    .orderBy('r.name').limit(n + 1);
  if (last !== undefined) q = q.where('r.name', '>', last);
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
