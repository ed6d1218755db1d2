// Namespaces: the first path component of repository names, owned by one user or organization (a user
// and an organization cannot share a name). What ownership means is auth/namespaces.ts's.
import { underPathRange } from '../lib/glob.js';
import type { Tx } from './database.js';
import { bumpAccessGeneration } from './cursors.js';

/** Repository names in a namespace (`ns/...`), in order, at most `limit`. */
export async function namespaceRepositories(db: Tx, ns: string, limit: number): Promise<string[]> {
  const { from, to } = underPathRange(ns);
  return (await db.selectFrom('repositories').select('name').where('name', '>=', from).where('name', '<', to).orderBy('name').limit(limit).execute()).map((r) => r.name);
}

/** Deletes the settings and roles given on repository names of a namespace (also for repositories never pushed). */
export async function forgetNamespaceSettings(tx: Tx, ns: string): Promise<void> {
  const { from, to } = underPathRange(ns);
  await tx.deleteFrom('repository_settings').where('name', '>=', from).where('name', '<', to).execute();
  await tx.deleteFrom('repository_members').where('repository_name', '>=', from).where('repository_name', '<', to).execute();
  await bumpAccessGeneration(tx);
}

/** Who owns a namespace: a user, an organization, or nobody. */
export async function namespaceOwner(db: Tx, ns: string): Promise<'user' | 'org' | null> {
  if (await db.selectFrom('organizations').select('id').where('name', '=', ns).executeTakeFirst()) return 'org';
  if (await db.selectFrom('users').select('id').where('name', '=', ns).executeTakeFirst()) return 'user';
  return null;
}

/** The first repository name at or after `from` in byte order (to walk namespaces one query each). */
export async function firstRepositoryFrom(db: Tx, from: string): Promise<string | undefined> {
  return (await db.selectFrom('repositories').select('name').where('name', '>=', from).orderBy('name').limit(1).executeTakeFirst())?.name;
}
